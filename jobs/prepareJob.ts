import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { join } from 'node:path';
import type { Observable } from 'rxjs';
import { DecodeError } from '../src/codec/decode.js';
import { buildOptimizer, learnedCheckpointPath, type LearnedFile } from '../src/config/build.js';
import { checkMemory } from '../src/config/limits.js';
import type { RunConfig } from '../src/config/run.js';
import type { Batch } from '../src/data/batch.js';
import { assertFinite, featureSize, type Splits } from '../src/data/dataset.js';
import { BATCH_SEED_OFFSET, BatchSampler, COMPARISON_SEED_OFFSET, DEFAULT_BATCH_SIZE } from '../src/data/sampler.js';
import type { RoundOptimizer, RoundState } from '../src/guard/round.js';
import type { Objective } from '../src/optimizee/objective.js';
import type { LoadedCheckpoint } from '../src/runs/checkpoint.js';
import { RUN_FILES, type SavedRun } from '../src/runs/runDir.js';
import { READ_LIMITS, readTextFile } from '../src/codec/readText.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../src/runs/settings.js';
import { LIVE_TASK_ID, liveMlpTask, loadTask, type LoadedTask, type Task } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { materializeState, nonFiniteProblem, stateProblems } from '../src/tensor/serialize.js';
import { disposeAll, type StateValue } from '../src/tensor/state.js';

export { BATCH_SEED_OFFSET, COMPARISON_SEED_OFFSET };

export interface PrepareOptions {
  /** Batches to train on instead of the task's training split (a live feed; not rewound on resume). */
  readonly source?: Observable<Batch>;
  /** Checkpoint cadence and event-log spacing; a resumed run keeps its saved log spacing. */
  readonly settings?: JobSettings;
  /** A run directory read with `readRunDir`: continue it (from its checkpoint, or from step 0 if it has none). */
  readonly resume?: SavedRun;
}

/** Everything a run needs, loaded and checked; no file has been written yet. */
export interface PreparedJob {
  readonly config: RunConfig;
  readonly settings: JobSettings;
  readonly task: Task;
  readonly splits: Splits;
  readonly objective: Objective;
  readonly optimizer: RoundOptimizer<RoundState>;
  readonly sampler: BatchSampler | undefined;
  /** The comparison batches' own sampler: for optimizers that compare (loss guards) on a dataset. */
  readonly comparisonSampler: BatchSampler | undefined;
  readonly resume: SavedRun | undefined;
  /** The learned optimizer's checkpoint file as loaded (copied into the run directory), if the optimizer has one. */
  readonly learned: LearnedFile | undefined;
  /** The resumed state (owned by the job until training takes it over). */
  initialState: RoundState | undefined;
}

const asInputError =
  (source: string) =>
  (err: unknown): DecodeError =>
    err instanceof DecodeError ? err : new DecodeError(source, [err instanceof Error ? err.message : String(err)]);

export function loadTaskOrThrow(config: RunConfig): LoadedTask {
  const live = config.task === LIVE_TASK_ID;
  if (live !== (config.input !== undefined)) {
    throw new DecodeError('task', [
      live
        ? `${LIVE_TASK_ID}: trains on a live feed; name it with --input live:stdin|live:file:PATH|live:tcp:PORT`
        : `${config.task}: a live input trains the task ${LIVE_TASK_ID}`,
    ]);
  }
  if (config.input) {
    if (config.evalEvery !== undefined || config.trainEval !== undefined)
      throw new DecodeError('evalEvery', ['a live feed has no fixed test or training subset to evaluate on']);
    return liveMlpTask(config.input.features, config.input.classes);
  }
  const loaded = loadTask(config.task, { seed: config.seed ?? 0, ...(config.dataDir ? { dataDir: config.dataDir } : {}) });
  if (E.isLeft(loaded)) throw asInputError(`task ${config.task}`)(loaded.left);
  return loaded.right;
}

/** Non-finite features or labels in any split are bad input (a `DecodeError` naming the split and sample). */
export function assertFiniteSplits(splits: Splits): void {
  for (const ds of [splits.train, splits.validation, splits.test]) {
    if (ds === undefined) continue;
    try {
      assertFinite(ds);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new DecodeError(ds.name, [message.startsWith(`${ds.name}: `) ? message.slice(ds.name.length + 2) : message]);
    }
  }
}

function isRoundState(v: StateValue): v is RoundState {
  if (v === null || typeof v !== 'object' || v instanceof tf.Tensor || isArray(v)) return false;
  return v['x'] instanceof tf.Tensor && v['x'].rank === 1 && typeof v['step'] === 'number';
}
const isArray = (v: StateValue): v is readonly StateValue[] => Array.isArray(v);

/** Checks a checkpoint's state against a fresh state of the same optimizer and creates its tensors. */
function restoreState(ck: LoadedCheckpoint, config: RunConfig, objective: Objective, optimizer: RoundOptimizer<RoundState>, source: string): RoundState {
  const x0 = objective.init(Rng.seeded(config.seed ?? 0));
  const template = optimizer.init(x0);
  const problems = stateProblems(template, ck.state);
  disposeAll([x0, template]);
  if (problems.length > 0) throw new DecodeError(source, problems);
  const nonFinite = nonFiniteProblem(ck.state);
  if (nonFinite !== undefined) throw new DecodeError(source, [nonFinite]);
  const state = materializeState(ck.state);
  if (!isRoundState(state)) {
    disposeAll(state);
    throw new DecodeError(source, ['state: expected a record with x and step']);
  }
  return state;
}

/**
 * Loads and checks everything a run needs: the task's data (finite), the optimizer, the batch
 * sampler and, when resuming, the checkpoint's state against the optimizer's own. Bad input
 * of any kind is a `DecodeError`; nothing is written.
 */
export function prepareJob(config: RunConfig, opts: PrepareOptions = {}): PreparedJob {
  const resume = opts.resume;
  const settings = resume ? { ...(opts.settings ?? resume.settings), log: resume.settings.log } : (opts.settings ?? DEFAULT_SETTINGS);
  // A live run's shape is in its config: checked before the task is built; a dataset's once it is read.
  if (config.input) checkMemory(config, config.input.features);
  const { task, splits, objective } = loadTaskOrThrow(config);
  if (!config.input) checkMemory(config, featureSize(splits.train.shape));
  assertFiniteSplits(splits);
  const learned = resume ? resume.learned : readLearnedFile(config);
  const built = buildOptimizer(config.optimizer, task.defaults, learned);
  if (E.isLeft(built)) throw asInputError('optimizer')(built.left);
  const optimizer = built.right;
  const seed = config.seed ?? 0;
  let sampler: BatchSampler | undefined;
  let comparisonSampler: BatchSampler | undefined;
  if (opts.source === undefined) {
    const batchSize = config.batchSize ?? DEFAULT_BATCH_SIZE;
    try {
      sampler = new BatchSampler(splits.train, batchSize, seed + BATCH_SEED_OFFSET);
    } catch (err) {
      throw asInputError('batchSize')(err);
    }
    if (optimizer.comparisonBatches !== undefined) comparisonSampler = new BatchSampler(splits.train, batchSize, seed + COMPARISON_SEED_OFFSET);
  }
  const ck = resume?.checkpoint;
  if (ck === undefined) return { config, settings, task, splits, objective, optimizer, sampler, comparisonSampler, resume, learned, initialState: undefined };
  const source = join(resume!.dir, RUN_FILES.checkpoint);
  if (sampler !== undefined) {
    if (ck.sampler === null) throw new DecodeError(source, ['sampler: the run trained on a live source; resume it with a live source']);
    if (ck.sampler.position > splits.train.count)
      throw new DecodeError(source, [`sampler.position: ${ck.sampler.position} is past the ${splits.train.count} training examples`]);
    sampler.restore(ck.sampler);
  }
  if (comparisonSampler !== undefined) {
    if (ck.comparisonSampler === null) throw new DecodeError(source, ['comparisonSampler: missing for a run whose optimizer compares on its own batches']);
    if (ck.comparisonSampler.position > splits.train.count)
      throw new DecodeError(source, [`comparisonSampler.position: ${ck.comparisonSampler.position} is past the ${splits.train.count} training examples`]);
    comparisonSampler.restore(ck.comparisonSampler);
  }
  const initialState = restoreState(ck, config, objective, optimizer, source);
  return { config, settings, task, splits, objective, optimizer, sampler, comparisonSampler, resume, learned, initialState };
}

/** A fresh run reads its learned optimizer's file once: what it loads is what it hashes and copies. */
function readLearnedFile(config: RunConfig): LearnedFile | undefined {
  const file = learnedCheckpointPath(config.optimizer);
  if (E.isLeft(file)) throw file.left;
  const path = file.right;
  if (path === undefined) return undefined;
  const text = readTextFile(path, READ_LIMITS.l2o, 'a learned-optimizer checkpoint');
  if (E.isLeft(text)) throw text.left;
  return { text: text.right, source: path };
}
