import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { mkdirSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, map, tap, type Observable } from 'rxjs';
import { buildOptimizer } from '../src/config/build.js';
import type { RunConfig } from '../src/config/run.js';
import { gather } from '../src/data/dataset.js';
import type { Batch } from '../src/optimizee/objective.js';
import { packageVersion } from '../src/paths.js';
import { loadTask, type LoadedTask } from '../src/tasks/index.js';
import type { StepEvent } from './events.js';
import { trainEvaluator, trainSubset } from './experimentEval.js';
import { ndjsonSink } from './ndjson.js';
import { progressBar } from './progress.js';
import { batches$ } from './source.js';
import { train } from './train.js';

/** Offset between the seed of the initial parameters and the seed of the batch order. */
export const BATCH_SEED_OFFSET = 1_000_003;
/** Size of the fixed test subset used by periodic evaluation. */
export const EVAL_SUBSET = 2000;

export interface RunJobOptions {
  readonly outDir: string;
  readonly backend: string;
  readonly progress: boolean;
  /** Batches to train on instead of the task's training split (a live feed). */
  readonly source?: Observable<Batch>;
}

export interface RunSummary {
  readonly last: StepEvent;
  readonly events: number;
  readonly wallMs: number;
}

/** Writes a file atomically: a temporary file renamed over the target. */
export function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, path);
}

export function loadTaskOrThrow(config: RunConfig): LoadedTask {
  const loaded = loadTask(config.task, { seed: config.seed ?? 0, ...(config.dataDir ? { dataDir: config.dataDir } : {}) });
  if (E.isLeft(loaded)) throw loaded.left;
  return loaded.right;
}

/**
 * One training run wired end to end: the task's data as a seeded batch stream (or a given
 * source), the configured optimizer or guard, the event log `events.ndjson` and `run.json`.
 */
export async function runJob(config: RunConfig, opts: RunJobOptions): Promise<RunSummary> {
  const seed = config.seed ?? 0;
  const { task, splits, objective } = loadTaskOrThrow(config);
  const optimizer = buildOptimizer(config.optimizer, task.defaults);
  if (E.isLeft(optimizer)) throw optimizer.left;

  mkdirSync(opts.outDir, { recursive: true });
  const meta = {
    config,
    task: task.describe,
    optimizer: optimizer.right.name,
    backend: opts.backend,
    versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
    seed,
    batchSeed: seed + BATCH_SEED_OFFSET,
    startedAt: new Date().toISOString(),
  };
  writeJsonAtomic(join(opts.outDir, 'run.json'), meta);

  const test = splits.test;
  const evaluate = config.evalEvery
    ? { every: config.evalEvery, batch: gather(test, Array.from({ length: Math.min(EVAL_SUBSET, test.count) }, (_, i) => i)) }
    : undefined;
  const source = opts.source ?? batches$(splits.train, { batchSize: config.batchSize ?? 128, seed: seed + BATCH_SEED_OFFSET });
  const onTrain = config.trainEval ? trainEvaluator(objective, trainSubset(splits.train, config.trainEval.size), config.trainEval.steps) : undefined;
  const started = performance.now();
  let events = 0;
  const last = await lastValueFrom(
    source.pipe(
      train({ objective, optimizer: optimizer.right, steps: config.steps, seed, ...(evaluate ? { evaluate } : {}), ...(onTrain ? { onRound: onTrain.onRound } : {}) }),
      map((e) => (onTrain ? onTrain.annotate(e) : e)),
      tap(() => (events += 1)),
      ndjsonSink<StepEvent>(join(opts.outDir, 'events.ndjson')),
      progressBar<StepEvent>({ total: config.steps, label: `${task.id} ${optimizer.right.name}`, enabled: opts.progress }),
    ),
    { defaultValue: undefined },
  );
  if (last === undefined) throw new Error('the run produced no event');
  const wallMs = performance.now() - started;
  writeJsonAtomic(join(opts.outDir, 'run.json'), { ...meta, finishedAt: new Date().toISOString(), wallMs, last });
  return { last, events, wallMs };
}
