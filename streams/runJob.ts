import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { map, tap, type Observable, type Subscription } from 'rxjs';
import { RUN_FILES, type SavedRun } from '../src/checkpoint/runDir.js';
import type { LoadedCheckpoint } from '../src/checkpoint/runCheckpoint.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../src/checkpoint/settings.js';
import { buildOptimizer } from '../src/config/build.js';
import { DecodeError } from '../src/config/decode.js';
import type { RunConfig } from '../src/config/run.js';
import { checkMemory } from '../src/config/limits.js';
import { assertFinite, featureSize, gather, type Splits } from '../src/data/dataset.js';
import { BatchSampler } from '../src/data/sampler.js';
import type { RoundOptimizer, RoundState } from '../src/guard/round.js';
import type { Batch, Objective } from '../src/optimizee/objective.js';
import { packageVersion } from '../src/paths.js';
import { LIVE_TASK_ID, liveMlpTask, loadTask, type LoadedTask, type Task } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { materializeState, nonFiniteProblem, stateProblems } from '../src/tensor/serialize.js';
import { disposeAll, type StateValue } from '../src/tensor/state.js';
import { Checkpointer, makeDirs, writeJsonAtomic, type RoundPoint } from './checkpoint.js';
import { EventThinner } from './downsample.js';
import type { StepEvent } from './events.js';
import { trainEvaluator, trainSubset } from './experimentEval.js';
import { NdjsonWriter } from './ndjson.js';
import { progressBar } from './progress.js';
import { pulled } from './source.js';
import { DivergenceError, train, type SourceEnd } from './train.js';

export { writeJsonAtomic } from './checkpoint.js';

/** Offset between the seed of the initial parameters and the seed of the batch order. */
export const BATCH_SEED_OFFSET = 1_000_003;
/** Size of the fixed test subset used by periodic evaluation. */
export const EVAL_SUBSET = 2000;

export interface RunJobOptions {
  readonly outDir: string;
  readonly backend: string;
  readonly progress: boolean;
  /** Batches to train on instead of the task's training split (a live feed; not rewound on resume). */
  readonly source?: Observable<Batch>;
  /** Checkpoint cadence and event-log spacing; a resumed run keeps its saved log spacing. */
  readonly settings?: JobSettings;
  /** A run directory read with `readRunDir`: continue it (from its checkpoint, or from step 0 if it has none). */
  readonly resume?: SavedRun;
  /** Aborting writes a checkpoint at the last finished round, flushes the log and rejects with `InterruptedError`. */
  readonly signal?: AbortSignal;
}

export interface RunSummary {
  readonly last: StepEvent;
  /** Event lines this process wrote. */
  readonly events: number;
  readonly wallMs: number;
  /** Where a given source (a live feed) ended, when it ended before the run's steps. */
  readonly sourceEnd?: SourceEnd;
}

/** The source ended before one whole round: nothing was trained (exit code 2 at the CLI). */
export class NothingTrainedError extends DecodeError {
  constructor(readonly end: SourceEnd | undefined) {
    const short = end && end.unused > 0 ? ` (${end.unused} of the ${end.needed} batches a round needs arrived)` : ' (no batch arrived)';
    super('input', [`the source ended before the first whole round${short}; nothing was trained`]);
  }
}

/** A run stopped by its abort signal (SIGINT/SIGTERM at the CLI: exit code 130). */
export class InterruptedError extends Error {
  constructor(
    readonly step: number,
    readonly checkpoint: { readonly path: string; readonly step: number } | undefined,
  ) {
    super(
      checkpoint
        ? `interrupted at step ${step}; checkpoint of step ${checkpoint.step} in ${checkpoint.path}`
        : `interrupted at step ${step}, before any checkpoint was written`,
    );
    this.name = 'InterruptedError';
  }
}

/** A divergence that names the last finite checkpoint, which is left as it was. */
export class RunDivergedError extends DivergenceError {
  constructor(
    divergence: DivergenceError['divergence'],
    readonly checkpoint: { readonly path: string; readonly step: number } | undefined,
    checkpointEvery: number,
  ) {
    super({
      ...divergence,
      message: checkpoint
        ? `${divergence.message}; the last finite checkpoint (step ${checkpoint.step}) is kept in ${checkpoint.path}`
        : `${divergence.message}; no checkpoint had been written yet (one every ${checkpointEvery} rounds)`,
    });
  }
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
  readonly resume: SavedRun | undefined;
  /** The resumed state (owned by the job until training takes it over). */
  initialState: RoundState | undefined;
}

const asInputError = (source: string) => (err: unknown): DecodeError =>
  err instanceof DecodeError ? err : new DecodeError(source, [err instanceof Error ? err.message : String(err)]);

export function loadTaskOrThrow(config: RunConfig): LoadedTask {
  const live = config.task === LIVE_TASK_ID;
  if (live !== (config.input !== undefined)) {
    throw new DecodeError('task', [live ? `${LIVE_TASK_ID}: trains on a live feed; name it with --input live:stdin|live:file:PATH|live:tcp:PORT` : `${config.task}: a live input trains the task ${LIVE_TASK_ID}`]);
  }
  if (config.input) {
    if (config.evalEvery !== undefined || config.trainEval !== undefined) throw new DecodeError('evalEvery', ['a live feed has no fixed test or training subset to evaluate on']);
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
export function prepareJob(config: RunConfig, opts: Pick<RunJobOptions, 'resume' | 'settings' | 'source'> = {}): PreparedJob {
  const resume = opts.resume;
  const settings = resume ? { ...(opts.settings ?? resume.settings), log: resume.settings.log } : (opts.settings ?? DEFAULT_SETTINGS);
  // A live run's shape is in its config: checked before the task is built; a dataset's once it is read.
  if (config.input) checkMemory(config, config.input.features);
  const { task, splits, objective } = loadTaskOrThrow(config);
  if (!config.input) checkMemory(config, featureSize(splits.train.shape));
  assertFiniteSplits(splits);
  const built = buildOptimizer(config.optimizer, task.defaults);
  if (E.isLeft(built)) throw asInputError('optimizer')(built.left);
  const optimizer = built.right;
  const seed = config.seed ?? 0;
  let sampler: BatchSampler | undefined;
  if (opts.source === undefined) {
    try {
      sampler = new BatchSampler(splits.train, config.batchSize ?? 128, seed + BATCH_SEED_OFFSET);
    } catch (err) {
      throw asInputError('batchSize')(err);
    }
  }
  const ck = resume?.checkpoint;
  if (ck === undefined) return { config, settings, task, splits, objective, optimizer, sampler, resume, initialState: undefined };
  const source = join(resume!.dir, RUN_FILES.checkpoint);
  if (sampler !== undefined) {
    if (ck.sampler === null) throw new DecodeError(source, ['sampler: the run trained on a live source; resume it with a live source']);
    if (ck.sampler.position > splits.train.count) throw new DecodeError(source, [`sampler.position: ${ck.sampler.position} is past the ${splits.train.count} training examples`]);
    sampler.restore(ck.sampler);
  }
  const initialState = restoreState(ck, config, objective, optimizer, source);
  return { config, settings, task, splits, objective, optimizer, sampler, resume, initialState };
}

/** Cuts the event log back to the length the checkpoint recorded (dropping rounds after it and any torn line). */
function rewindLog(path: string, bytes: number): void {
  if (existsSync(path)) truncateSync(path, bytes);
}

/**
 * Trains a prepared job, writing DIR/run.json, DIR/events.ndjson (thinned by the settings),
 * DIR/checkpoint.json every `checkpointEvery` rounds, on abort and at the end, and
 * DIR/checkpoints.ndjson (one line per checkpoint with the memory in use).
 */
export async function runPrepared(job: PreparedJob, opts: RunJobOptions): Promise<RunSummary> {
  const { config, settings, task, splits, objective, optimizer, sampler, resume } = job;
  const seed = config.seed ?? 0;
  const ck = resume?.checkpoint;
  const dir = opts.outDir;
  makeDirs(dir);
  const eventsPath = join(dir, RUN_FILES.events);
  const metaPath = join(dir, RUN_FILES.meta);
  let meta: Record<string, unknown>;
  if (resume) {
    rewindLog(eventsPath, ck?.log.bytes ?? 0);
    const resumes = Array.isArray(resume.meta['resumes']) ? resume.meta['resumes'] : [];
    meta = { ...resume.meta, settings, resumes: [...resumes, { at: new Date().toISOString(), step: ck?.step ?? 0, backend: opts.backend }] };
  } else {
    for (const stale of [RUN_FILES.checkpoint, RUN_FILES.journal]) rmSync(join(dir, stale), { force: true });
    meta = {
      config,
      settings,
      task: task.describe,
      optimizer: optimizer.name,
      backend: opts.backend,
      versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      seed,
      batchSeed: seed + BATCH_SEED_OFFSET,
      startedAt: new Date().toISOString(),
    };
  }
  writeJsonAtomic(metaPath, meta);

  const log = new NdjsonWriter(eventsPath, { append: resume !== undefined });
  if (ck) log.lines = ck.log.lines;
  const checkpointer = new Checkpointer(dir, { config, settings, backend: opts.backend }, log, ck?.step);
  const thinner = new EventThinner(settings.log, config.steps, ck?.step ?? 0);
  const test = splits.test;
  const evaluate = config.evalEvery
    ? { every: config.evalEvery, batch: gather(test, Array.from({ length: Math.min(EVAL_SUBSET, test.count) }, (_, i) => i)) }
    : undefined;
  const source = opts.source ?? pulled(() => sampler!.next());
  // Training loss on a fixed subset at scheduled steps (experiments), added to the round's event.
  const onTrain = config.trainEval ? trainEvaluator(objective, trainSubset(splits.train, config.trainEval.size), config.trainEval.steps, ck?.step ?? 0) : undefined;

  let latest: RoundPoint | undefined;
  let sourceEnd: SourceEnd | undefined;
  let last: StepEvent | undefined;
  let written = 0;
  const initialState = job.initialState;
  job.initialState = undefined; // the train operator owns it from here
  const events$ = source.pipe(
    train({
      objective,
      optimizer,
      steps: config.steps,
      seed,
      ...(initialState ? { initialState, start: { round: ck!.round, elapsedMs: ck!.elapsedMs } } : {}),
      ...(evaluate ? { evaluate } : {}),
      // A live feed's end is the run's end; batches short of a round are reported.
      ...(opts.source ? { untilSourceEnds: true, onSourceEnd: (end: SourceEnd) => (sourceEnd = end) } : {}),
      onRound: (state, e) => {
        latest = { state, step: e.step, round: e.round, elapsedMs: e.elapsedMs, sampler: sampler?.state() ?? null };
        onTrain?.onRound(state);
      },
    }),
    map((e) => (onTrain ? onTrain.annotate(e) : e)),
    tap((e) => {
      last = e;
      if (thinner.keep(e)) {
        log.write(e);
        written += 1;
      }
      if (e.round % settings.checkpointEvery === 0 || e.step >= config.steps) checkpointer.write(latest!, e.step >= config.steps ? 'final' : 'interval');
    }),
    progressBar<StepEvent>({ total: config.steps, label: `${task.id} ${optimizer.name}`, enabled: opts.progress }),
  );

  const kept = () => (checkpointer.lastStep === undefined ? undefined : { path: checkpointer.path, step: checkpointer.lastStep });
  const finish = (outcome: Record<string, unknown>) => {
    log.close();
    writeJsonAtomic(metaPath, { ...meta, ...outcome, stoppedAt: new Date().toISOString() });
  };
  const started = performance.now();
  try {
    await new Promise<void>((resolve, reject) => {
      let subscription: Subscription | undefined;
      let stopped = false;
      const onAbort = () => {
        if (stopped) return;
        stopped = true;
        try {
          // Rounds run synchronously, so `latest` is a whole round and its state is still alive.
          if (latest !== undefined && latest.step !== checkpointer.lastStep) checkpointer.write(latest, 'signal');
          reject(new InterruptedError(latest?.step ?? ck?.step ?? 0, kept()));
        } catch (err) {
          reject(err);
        } finally {
          subscription?.unsubscribe();
        }
      };
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      const done = (fn: () => void) => {
        stopped = true;
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      subscription = events$.subscribe({
        error: (err: unknown) => done(() => reject(err)),
        complete: () => done(resolve),
      });
      if (stopped) subscription.unsubscribe();
    });
  } catch (err) {
    if (err instanceof DivergenceError) {
      finish({ outcome: 'diverged', divergence: err.divergence, last });
      throw new RunDivergedError(err.divergence, kept(), settings.checkpointEvery);
    }
    finish({ outcome: err instanceof InterruptedError ? 'interrupted' : 'failed', error: err instanceof Error ? err.message : String(err), last });
    throw err;
  }
  const wallMs = performance.now() - started;
  if (last === undefined) {
    const err = new NothingTrainedError(sourceEnd);
    finish({ outcome: 'no-input', error: err.message });
    throw err;
  }
  finish({ outcome: 'finished', finishedAt: new Date().toISOString(), wallMs, last, ...(sourceEnd ? { sourceEnd } : {}) });
  return { last, events: written, wallMs, ...(sourceEnd ? { sourceEnd } : {}) };
}

/**
 * One training run wired end to end: the task's data as a seeded batch stream (or a given
 * source), the configured optimizer or guard, the event log, checkpoints and `run.json`.
 * With `resume` it continues a saved run bit for bit (same backend).
 */
export async function runJob(config: RunConfig, opts: RunJobOptions): Promise<RunSummary> {
  const job = prepareJob(config, opts);
  try {
    return await runPrepared(job, opts);
  } finally {
    if (job.initialState !== undefined) disposeAll(job.initialState);
  }
}
