import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { join } from 'node:path';
import { map, tap, type Observable, type Subscription } from 'rxjs';
import { MAX_L2O_BYTES, readTextLimited, RUN_FILES, type RecordedInputs, type SavedRun } from '../src/checkpoint/runDir.js';
import { configHash, sha256, type LoadedCheckpoint } from '../src/checkpoint/runCheckpoint.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../src/checkpoint/settings.js';
import { buildOptimizer, learnedCheckpointPath, type LearnedFile } from '../src/config/build.js';
import { DecodeError } from '../src/config/decode.js';
import type { RunConfig } from '../src/config/run.js';
import { assertFinite, gather, type Splits } from '../src/data/dataset.js';
import { BatchSampler } from '../src/data/sampler.js';
import type { RoundOptimizer, RoundState } from '../src/guard/round.js';
import type { Batch, Objective } from '../src/optimizee/objective.js';
import { packageVersion } from '../src/paths.js';
import { LIVE_TASK_ID, liveMlpTask, loadTask, type LoadedTask, type Task } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { materializeState, stateProblems } from '../src/tensor/serialize.js';
import { disposeAll, type StateValue } from '../src/tensor/state.js';
import { Checkpointer, type RoundPoint } from './checkpoint.js';
import { makeDirs, removeFile, truncateFile, writeFileAtomic, writeJsonAtomic } from './safeFiles.js';
import { lockDir, type DirLock } from './dirLock.js';
import { EventThinner } from './downsample.js';
import type { StepEvent } from './events.js';
import { trainEvaluator, trainSubset } from './experimentEval.js';
import { NdjsonWriter } from './ndjson.js';
import { progressBar } from './progress.js';
import { pulled } from './source.js';
import { DivergenceError, train } from './train.js';

export { writeJsonAtomic } from './safeFiles.js';

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

/** The run's source ended before its steps were done (a live feed closed); its last round is checkpointed. */
export class InputEndedError extends Error {
  constructor(
    readonly step: number,
    readonly steps: number,
    readonly checkpoint: { readonly path: string; readonly step: number } | undefined,
  ) {
    super(
      `the input ended at step ${step} of ${steps}; ` +
        (checkpoint ? `checkpoint of step ${checkpoint.step} in ${checkpoint.path}` : 'no round was finished, nothing to continue from'),
    );
    this.name = 'InputEndedError';
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
  /** The learned optimizer's checkpoint file as loaded (copied into the run directory), if the optimizer has one. */
  readonly learned: LearnedFile | undefined;
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
  const { task, splits, objective } = loadTaskOrThrow(config);
  assertFiniteSplits(splits);
  const learned = resume ? resume.learned : readLearnedFile(config);
  const built = buildOptimizer(config.optimizer, task.defaults, learned);
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
  if (ck === undefined) return { config, settings, task, splits, objective, optimizer, sampler, resume, learned, initialState: undefined };
  const source = join(resume!.dir, RUN_FILES.checkpoint);
  if (sampler !== undefined) {
    if (ck.sampler === null) throw new DecodeError(source, ['sampler: the run trained on a live source; resume it with a live source']);
    if (ck.sampler.position > splits.train.count) throw new DecodeError(source, [`sampler.position: ${ck.sampler.position} is past the ${splits.train.count} training examples`]);
    sampler.restore(ck.sampler);
  }
  const initialState = restoreState(ck, config, objective, optimizer, source);
  return { config, settings, task, splits, objective, optimizer, sampler, resume, learned, initialState };
}

/** A fresh run reads its learned optimizer's file once: what it loads is what it hashes and copies. */
function readLearnedFile(config: RunConfig): LearnedFile | undefined {
  const path = learnedCheckpointPath(config.optimizer);
  if (path === undefined) return undefined;
  const text = readTextLimited(path, MAX_L2O_BYTES);
  if (E.isLeft(text)) throw text.left;
  return { text: text.right, source: path };
}


/**
 * Trains a prepared job, writing DIR/run.json, DIR/events.ndjson (thinned by the settings),
 * DIR/checkpoint.json every `checkpointEvery` rounds, on abort and at the end, and
 * DIR/checkpoints.ndjson (one line per checkpoint with the memory in use).
 */
export async function runPrepared(job: PreparedJob, opts: RunJobOptions): Promise<RunSummary> {
  const { config, settings, task, splits, objective, optimizer, sampler, resume, learned } = job;
  const seed = config.seed ?? 0;
  const ck = resume?.checkpoint;
  const dir = opts.outDir;
  makeDirs(dir);
  const eventsPath = join(dir, RUN_FILES.events);
  const metaPath = join(dir, RUN_FILES.meta);
  let meta: Record<string, unknown>;
  if (resume) {
    truncateFile(eventsPath, ck?.log.bytes ?? 0); // drops rounds after the checkpoint and any torn line
    const resumes = Array.isArray(resume.meta['resumes']) ? resume.meta['resumes'] : [];
    const resumed = { at: new Date().toISOString(), step: ck?.step ?? 0, backend: opts.backend };
    meta = { ...resume.meta, settings, resumes: [...resumes, resumed], outcome: 'running' };
  } else {
    for (const stale of [RUN_FILES.checkpoint, RUN_FILES.journal, RUN_FILES.l2o]) removeFile(join(dir, stale));
    // The run's own copy of its learned optimizer: a resume reads it, so the original may move or change.
    if (learned !== undefined) writeFileAtomic(join(dir, RUN_FILES.l2o), learned.text);
    const inputs: RecordedInputs = {
      config: configHash(config),
      l2o: learned === undefined ? null : { from: learned.source, sha256: sha256(learned.text), copy: RUN_FILES.l2o },
    };
    meta = {
      config,
      settings,
      task: task.describe,
      optimizer: optimizer.name,
      backend: opts.backend,
      versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      seed,
      batchSeed: seed + BATCH_SEED_OFFSET,
      inputs,
      startedAt: new Date().toISOString(),
      outcome: 'running',
    };
  }
  writeJsonAtomic(metaPath, meta);

  const log = new NdjsonWriter(eventsPath, { append: resume !== undefined });
  if (ck) log.lines = ck.log.lines;
  const inputs = { config: configHash(config), l2o: learned === undefined ? null : sha256(learned.text) };
  const checkpointer = new Checkpointer(dir, { config, settings, backend: opts.backend, inputs }, log, ck?.step);
  const thinner = new EventThinner(settings.log, config.steps, ck?.step ?? 0);
  const test = splits.test;
  const evaluate = config.evalEvery
    ? { every: config.evalEvery, batch: gather(test, Array.from({ length: Math.min(EVAL_SUBSET, test.count) }, (_, i) => i)) }
    : undefined;
  const source = opts.source ?? pulled(() => sampler!.next());
  // Training loss on a fixed subset at scheduled steps (experiments), added to the round's event.
  const onTrain = config.trainEval ? trainEvaluator(objective, trainSubset(splits.train, config.trainEval.size), config.trainEval.steps, ck?.step ?? 0) : undefined;

  let latest: RoundPoint | undefined;
  let last: StepEvent | undefined;
  let written = 0;
  /** The step of the last round whose event is in the log (or was meant to be thinned out): a checkpoint may point there. */
  let logged: number | undefined;
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
      logged = e.step;
      if (e.round % settings.checkpointEvery === 0 || e.step >= config.steps) checkpointer.write(latest!, e.step >= config.steps ? 'final' : 'interval');
    }),
    progressBar<StepEvent>({ total: config.steps, label: `${task.id} ${optimizer.name}`, enabled: opts.progress }),
  );

  const kept = () => (checkpointer.lastStep === undefined ? undefined : { path: checkpointer.path, step: checkpointer.lastStep });
  /** Records the outcome in run.json; a failure to do so (a full disk) is returned, not thrown over the run's own error. */
  const finish = (outcome: Record<string, unknown>): unknown => {
    try {
      log.close();
    } catch {
      // the checkpoint records where the log stood; resume cuts it back there
    }
    try {
      writeJsonAtomic(metaPath, { ...meta, ...outcome, stoppedAt: new Date().toISOString() });
      return undefined;
    } catch (err) {
      return err;
    }
  };
  /** A run stopping early for any reason but divergence saves its last whole round first (its state is alive until teardown). */
  const saveLatest = (): void => {
    try {
      // Not past the log: a round whose event failed to be written is redone on resume.
      if (latest !== undefined && latest.step === logged && latest.step !== checkpointer.lastStep) checkpointer.write(latest, 'stopped');
    } catch {
      // e.g. the disk is still full: the previous checkpoint stays in place
    }
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
        error: (err: unknown) =>
          done(() => {
            if (!(err instanceof DivergenceError)) saveLatest();
            reject(err);
          }),
        complete: () =>
          done(() => {
            const step = last?.step ?? ck?.step ?? 0;
            if (step >= config.steps) return resolve();
            // The source ended first (a live feed closed): save where the run stands, to be resumed with more input.
            saveLatest();
            reject(new InputEndedError(step, config.steps, kept()));
          }),
      });
      if (stopped) subscription.unsubscribe();
    });
  } catch (err) {
    if (err instanceof DivergenceError) {
      finish({ outcome: 'diverged', divergence: err.divergence, last });
      throw new RunDivergedError(err.divergence, kept(), settings.checkpointEvery);
    }
    const outcome = err instanceof InterruptedError ? 'interrupted' : err instanceof InputEndedError ? 'input-ended' : 'failed';
    const checkpoint = kept();
    finish({ outcome, error: err instanceof Error ? err.message : String(err), last, ...(checkpoint ? { checkpoint } : {}) });
    throw err;
  }
  const wallMs = performance.now() - started;
  const unrecorded = finish({ outcome: 'finished', finishedAt: new Date().toISOString(), wallMs, last });
  if (unrecorded !== undefined) throw unrecorded;
  if (last === undefined) throw new Error('the run produced no event');
  return { last, events: written, wallMs };
}

/**
 * One training run wired end to end: the task's data as a seeded batch stream (or a given
 * source), the configured optimizer or guard, the event log, checkpoints and `run.json`.
 * With `resume` it continues a saved run bit for bit (same backend). The directory is locked
 * while the run writes it (a `LockError` when another process holds it).
 */
export async function runJob(config: RunConfig, opts: RunJobOptions): Promise<RunSummary> {
  const job = prepareJob(config, opts);
  let lock: DirLock | undefined;
  try {
    makeDirs(opts.outDir);
    lock = lockDir(opts.outDir, opts.outDir, `runJob ${opts.outDir}`);
    return await runPrepared(job, opts);
  } finally {
    lock?.release();
    if (job.initialState !== undefined) disposeAll(job.initialState);
  }
}
