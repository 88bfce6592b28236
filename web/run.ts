import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { tap, type Observable } from 'rxjs';
import { decodeWith } from '../src/codec/decode.js';
import { buildOptimizerWith } from '../src/config/optimizers.js';
import { OptimizerConfig } from '../src/config/run.js';
import type { Dataset } from '../src/data/dataset.js';
import { BATCH_SEED_OFFSET, BatchSampler, COMPARISON_SEED_OFFSET } from '../src/data/sampler.js';
import { generatedSplits } from '../src/data/synthetic.js';
import type { RoundState } from '../src/guard/round.js';
import type { L2OCheckpoint } from '../src/l2o/weightsCodec.js';
import { learnedOptimizer } from '../src/l2o/learned.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective } from '../src/optimizee/objective.js';
import { findTask } from '../src/tasks/registry.js';
import type { StepEvent } from '../src/runs/events.js';
import { drawnBatches$, mixIn, type LiveExample } from '../streams/points.js';
import { batches$ } from '../streams/source.js';
import { train } from '../streams/train.js';
import type { RunSpec } from './protocol.js';

/** Live examples in each batch of a dataset run once a person has clicked some onto the canvas. */
export const LIVE_PER_BATCH = 32;
export const BATCH_SIZE = 128;

/** The run's optimizer as the CLI's config (`lgl2o run --config`), decoded by the same codec. */
export function optimizerConfig(spec: RunSpec): unknown {
  const lr = spec.lr === undefined ? {} : { lr: spec.lr };
  const fallback = { type: 'sgd', ...lr };
  switch (spec.optimizer) {
    case 'sgd':
      return { type: 'sgd', ...lr };
    case 'adam':
      return { type: 'adam', ...lr };
    case 'l2o':
      return { type: 'l2o' };
    case 'gl2o':
      return { type: 'gl2o', fallback };
    case 'lgl2o':
      return { type: 'lgl2o', k: spec.k, m: spec.m, fallback };
    case 'lgl2o-anchor':
      return { type: 'lgl2o', k: spec.k, m: spec.m, anchor: true, fallback };
  }
}

export interface RunHooks {
  /** While true the run's data source pulls nothing (training waits where it is). */
  readonly paused: () => boolean;
  /** Live examples mixed into a batch on their way to training. */
  readonly onMixed: (count: number) => void;
  /** After each round, with the state the run owns (read it, don't keep it). */
  readonly onRound: (state: RoundState, event: StepEvent) => void;
}

export interface PreparedRun {
  readonly objective: Objective;
  /** The training split shown under the decision boundary (none for drawn data). */
  readonly train: Dataset | undefined;
  readonly events$: Observable<StepEvent>;
}

/**
 * One run of the page, wired as `lgl2o run --task mlp-spirals --seed S` wires it: generated
 * data from the seed, batches in the order of seed + BATCH_SEED_OFFSET (a loss guard's comparison
 * batches in that of seed + COMPARISON_SEED_OFFSET), initial parameters from the seed, the
 * optimizer built from its config, and the `train` operator; clicked
 * points join through `mixIn` (or make up all the data when the dataset is `drawn`).
 */
export function prepareRun(
  spec: RunSpec,
  examples$: Observable<LiveExample>,
  checkpoint: L2OCheckpoint | undefined,
  hooks: RunHooks,
): E.Either<Error, PreparedRun> {
  const taskId = spec.dataset === 'circles' ? 'mlp-circles' : 'mlp-spirals';
  const learned = () => (checkpoint === undefined ? E.left(new Error('no learned optimizer checkpoint was loaded')) : E.right(learnedOptimizer(checkpoint)));
  return pipe(
    E.Do,
    E.bindW('task', () => findTask(taskId)),
    E.bindW('config', () => decodeWith(OptimizerConfig, optimizerConfig(spec), 'optimizer')),
    E.bindW('optimizer', ({ config, task }) => buildOptimizerWith(config, task.defaults, learned)),
    E.bindW('splits', () => {
      if (spec.dataset === 'drawn') return E.right(undefined);
      const name = spec.dataset === 'circles' ? 'circles' : 'spirals';
      return E.tryCatch(() => generatedSplits(name, spec.seed), E.toError);
    }),
    E.map(({ task, optimizer, splits }) => {
      const objective = task.objective(splits ?? { train: drawnShape, test: drawnShape });
      const paused = hooks.paused;
      const batchSeed = spec.seed + BATCH_SEED_OFFSET;
      const source: Observable<Batch> = splits
        ? batches$(splits.train, { batchSize: BATCH_SIZE, seed: batchSeed, paused }).pipe(
            mixIn(examples$, { features: 2, perBatch: LIVE_PER_BATCH, seed: batchSeed + 1, onMixed: hooks.onMixed }),
          )
        : drawnBatches$(examples$, { features: 2, batchSize: BATCH_SIZE, seed: batchSeed, paused });
      const counted = splits ? source : source.pipe(tap((b) => hooks.onMixed(b.size)));
      // As on a dataset in Node: an optimizer that compares (a loss guard) draws its comparison batches from a sampler of its own.
      const comparisons =
        splits && optimizer.comparisonBatches !== undefined ? new BatchSampler(splits.train, BATCH_SIZE, spec.seed + COMPARISON_SEED_OFFSET) : undefined;
      const comparison = comparisons === undefined ? {} : { comparison: () => comparisons.next() };
      return {
        objective,
        train: splits?.train,
        events$: counted.pipe(train({ objective, optimizer, steps: spec.steps, seed: spec.seed, ...comparison, onRound: hooks.onRound })),
      };
    }),
  );
}

/** Two classes in the plane: what the task's MLP (2-20-2) is built from when the data is drawn. */
const drawnShape: Dataset = { name: 'drawn', x: new Float32Array(0), y: new Int32Array(0), shape: [2], count: 0, classes: 2 };
