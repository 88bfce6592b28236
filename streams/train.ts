import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { Observable, type OperatorFunction } from 'rxjs';
import { evaluate } from '../src/optimizee/evaluate.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective, TensorBatch } from '../src/optimizee/objective.js';
import { DivergenceError, type RoundOptimizer, type RoundState } from '../src/guard/round.js';
import { assertBackendReady } from '../src/tensor/backend.js';
import { formatBytes, MEMORY_LIMIT } from '../src/config/limits.js';
import { featureSize } from '../src/data/dataset.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';
import type { StepEvent } from '../src/runs/events.js';

export { DivergenceError };

/** The source completed before the run's `steps` (without `untilSourceEnds`). */
export class SourceEndedError extends Error {
  constructor(
    readonly step: number,
    readonly steps: number,
    readonly unused: number,
    readonly needed: number,
  ) {
    super(`train: the source ended at step ${step} of ${steps}${unused > 0 ? `, with ${unused} of the ${needed} batches the next round needs unused` : ''}`);
    this.name = 'SourceEndedError';
  }
}

/** Where a run stood when its source ended: batches that arrived short of a whole round were not trained on. */
export interface SourceEnd {
  readonly step: number;
  readonly unused: number;
  readonly needed: number;
}

export interface Evaluation {
  /** Evaluate every this many optimizer steps (at the first round reaching it). */
  readonly every: number;
  readonly batch: Batch;
}

export interface TrainOptions<S extends RoundState> {
  readonly objective: Objective;
  readonly optimizer: RoundOptimizer<S>;
  /** Optimizer steps to run; the last round may overshoot to finish its k steps. */
  readonly steps: number;
  /** Seed for the initial parameters when `initialParams` is not given. */
  readonly seed?: number;
  /** Starting point (not disposed by the run). */
  readonly initialParams?: tf.Tensor1D;
  /** A state to continue from (ownership passes to the run), e.g. a resumed checkpoint. */
  readonly initialState?: S;
  /** Where a resumed run's counters stood: rounds done and training time so far. */
  readonly start?: { readonly round: number; readonly elapsedMs: number };
  readonly evaluate?: Evaluation;
  /**
   * Where comparison batches come from (a pull: drawn when a round is ready). Without it a
   * round takes all its batches from the source in order, its training batches first.
   */
  readonly comparison?: () => Batch;
  /** Called after every round with the state now owned by the run (read it, don't keep it). */
  readonly onRound?: (state: S, event: StepEvent) => void;
  /** Called once at the end with a copy of the final parameters, which the callee owns. */
  readonly onFinish?: (params: tf.Tensor1D) => void;
  /**
   * The source's end is the run's end (a live feed): the operator completes then, and
   * `onSourceEnd` hears where it stood. Otherwise a source that ends before `steps` is an error
   * (`SourceEndedError`), naming the batches of an unfinished round.
   */
  readonly untilSourceEnds?: boolean;
  readonly onSourceEnd?: (end: SourceEnd) => void;
  /** Most bytes of batches one round may hold (default `MEMORY_LIMIT`): more is an error before they pile up. */
  readonly maxRoundBytes?: number;
}

/** The test evaluation an event carries. */
function testEvaluation(objective: Objective, x: tf.Tensor1D, batch: Batch): { testLoss: number; testAccuracy?: number } {
  const { loss, accuracy } = evaluate(objective, x, batch);
  return accuracy === undefined ? { testLoss: loss } : { testLoss: loss, testAccuracy: accuracy };
}

/**
 * Turns a stream of batches into a stream of `StepEvent`s: it groups as many batches as the
 * optimizer asks for (its comparison batches drawn from `comparison` when given), runs one pure round on them, and owns the state in between, freeing
 * what each round replaced. Completes after `steps` optimizer steps (or, with `untilSourceEnds`,
 * when the source ends); errors with a `DivergenceError` when the optimizer diverges and with a
 * `SourceEndedError` when the source ends first.
 */
export function train<S extends RoundState>(options: TrainOptions<S>): OperatorFunction<Batch, StepEvent> {
  const { objective, optimizer, steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`train: steps must be an integer ≥ 1, got ${steps}`);
  return (source) =>
    new Observable<StepEvent>((subscriber) => {
      assertBackendReady('train');
      let state: S | undefined = options.initialState;
      if (state === undefined) {
        const x0 = options.initialParams ?? objective.init(Rng.seeded(options.seed ?? 0));
        state = optimizer.init(x0);
        if (options.initialParams === undefined) x0.dispose();
      }
      let pending: Batch[] = [];
      let round = options.start?.round ?? 0;
      const started = performance.now() - (options.start?.elapsedMs ?? 0);
      const evalEvery = options.evaluate?.every;
      // The first multiple of evalEvery past the current step: the same for a resumed run.
      let nextEval = evalEvery === undefined ? Infinity : (Math.floor(state.step / evalEvery) + 1) * evalEvery;
      if (state.step >= steps) {
        disposeAll(state);
        state = undefined;
        subscriber.complete();
        return;
      }

      const runRound = (current: S, batches: readonly Batch[]): void => {
        const tensors: TensorBatch[] = batches.map((b) => toTensorBatch([b]));
        const result = (() => {
          try {
            return optimizer.round(objective, current, tensors);
          } finally {
            tensors.forEach(disposeTensorBatch);
          }
        })();
        if (E.isLeft(result)) {
          subscriber.error(new DivergenceError(result.left));
          return;
        }
        const [next, report] = result.right;
        disposeReplaced(current, next);
        state = next;
        round += 1;
        const { steps: _taken, ...fields } = report;
        let event: StepEvent = { step: next.step, round, ...fields, elapsedMs: performance.now() - started };
        if (options.evaluate && next.step >= nextEval) {
          event = { ...event, ...testEvaluation(objective, next.x, options.evaluate.batch) };
          while (nextEval <= next.step) nextEval += evalEvery!;
        }
        options.onRound?.(next, event);
        subscriber.next(event);
        if (next.step >= steps) {
          options.onFinish?.(next.x.clone());
          subscriber.complete();
        }
      };

      const maxRoundBytes = options.maxRoundBytes ?? MEMORY_LIMIT;
      const subscription = source.subscribe({
        next: (batch) => {
          if (subscriber.closed || state === undefined) return;
          const needed = optimizer.batchesNeeded(state);
          // From the batch's size and shape: reading `x` would gather a lazily sampled batch.
          const bytes = needed * batch.size * (featureSize(batch.shape) + 1) * 4;
          if (pending.length === 0 && bytes > maxRoundBytes) {
            subscriber.error(
              new RangeError(
                `train: ${optimizer.name} needs ${needed} batches of ${formatBytes(bytes / needed)} per round, ${formatBytes(bytes)}, more than the limit of ${formatBytes(maxRoundBytes)}`,
              ),
            );
            return;
          }
          pending.push(batch);
          const fromComparison = options.comparison === undefined ? 0 : (optimizer.comparisonBatches?.(state) ?? 0);
          if (pending.length < needed - fromComparison) return;
          const group = fromComparison === 0 ? pending : [...pending, ...Array.from({ length: fromComparison }, options.comparison!)];
          pending = [];
          try {
            runRound(state, group);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => {
          if (subscriber.closed || state === undefined) return;
          const end = { step: state.step, unused: pending.length, needed: optimizer.batchesNeeded(state) };
          pending = [];
          if (!options.untilSourceEnds) return subscriber.error(new SourceEndedError(end.step, steps, end.unused, end.needed));
          options.onSourceEnd?.(end);
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        if (state !== undefined) disposeAll(state);
        state = undefined;
      };
    });
}
