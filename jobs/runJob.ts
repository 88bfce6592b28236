import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { lastValueFrom, map, takeUntil, tap } from 'rxjs';
import { configHash, sha256 } from '../src/runs/checkpoint.js';
import { DecodeError } from '../src/codec/decode.js';
import type { RunConfig } from '../src/config/run.js';
import { gather } from '../src/data/dataset.js';
import { packageVersion } from '../src/paths.js';
import type { StepEvent } from '../src/runs/events.js';
import { EventThinner } from '../src/runs/logSpacing.js';
import { RUN_FILES, type RecordedInputs } from '../src/runs/runDir.js';
import { trainEvaluator, trainSubset } from '../src/runs/trainEvaluator.js';
import { disposeAll } from '../src/tensor/state.js';
import { aborted } from '../streams/abort.js';
import { NdjsonWriter, ndjsonLines } from '../streams/ndjson.js';
import { progressBar } from '../streams/progress.js';
import { pulled } from '../streams/source.js';
import { DivergenceError, train, type SourceEnd } from '../streams/train.js';
import { checkpointRounds, Checkpointer, type RoundPoint } from './checkpointer.js';
import { makeDirs, removeFile, truncateFile, writeFileAtomic, writeJsonAtomic } from './files.js';
import { lockDir, type DirLock } from './dirLock.js';
import { BATCH_SEED_OFFSET, prepareJob, type PreparedJob, type PrepareOptions } from './prepareJob.js';

/** Size of the fixed test subset used by periodic evaluation. */
export const EVAL_SUBSET = 2000;

export interface RunJobOptions extends PrepareOptions {
  readonly outDir: string;
  readonly backend: string;
  readonly progress: boolean;
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

/**
 * Starts DIR/run.json: a fresh run's config, provenance and seeds (and the files of a previous
 * run removed), or a resumed run's saved record with this resumption added and its event log
 * cut back to the length the checkpoint recorded (dropping rounds after it and any torn line).
 */
function startRecord(job: PreparedJob, dir: string, backend: string): Record<string, unknown> {
  const { config, settings, task, optimizer, resume, learned } = job;
  const ck = resume?.checkpoint;
  const seed = config.seed ?? 0;
  const eventsPath = join(dir, RUN_FILES.events);
  let meta: Record<string, unknown>;
  if (resume) {
    truncateFile(eventsPath, ck?.log.bytes ?? 0);
    const resumes = Array.isArray(resume.meta['resumes']) ? resume.meta['resumes'] : [];
    const resumed = { at: new Date().toISOString(), step: ck?.step ?? 0, backend };
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
      backend,
      versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      seed,
      batchSeed: seed + BATCH_SEED_OFFSET,
      inputs,
      startedAt: new Date().toISOString(),
      outcome: 'running',
    };
  }
  writeJsonAtomic(join(dir, RUN_FILES.meta), meta);
  return meta;
}

/**
 * Trains a prepared job, writing DIR/run.json, DIR/events.ndjson (thinned by the settings),
 * DIR/checkpoint.json every `checkpointEvery` rounds, on abort and at the end, and
 * DIR/checkpoints.ndjson (one line per checkpoint with the memory in use).
 */
export async function runPrepared(job: PreparedJob, opts: RunJobOptions): Promise<RunSummary> {
  const { config, settings, task, splits, objective, optimizer, sampler, comparisonSampler, resume, learned } = job;
  const ck = resume?.checkpoint;
  const dir = opts.outDir;
  makeDirs(dir);
  const meta = startRecord(job, dir, opts.backend);

  const log = new NdjsonWriter(join(dir, RUN_FILES.events), { append: resume !== undefined });
  if (ck) log.lines = ck.log.lines;
  const linesBefore = log.lines;
  const inputs = { config: configHash(config), l2o: learned === undefined ? null : sha256(learned.text) };
  const checkpointer = new Checkpointer(dir, { config, settings, backend: opts.backend, inputs }, log, ck?.step);
  const thinner = new EventThinner(settings.log, config.steps, ck?.step ?? 0);
  const test = splits.test;
  const evaluate = config.evalEvery
    ? {
        every: config.evalEvery,
        batch: gather(
          test,
          Array.from({ length: Math.min(EVAL_SUBSET, test.count) }, (_, i) => i),
        ),
      }
    : undefined;
  const source = opts.source ?? pulled(() => sampler!.next());
  // Training loss on a fixed subset at scheduled steps (experiments), added to the round's event.
  const onTrain = config.trainEval
    ? trainEvaluator(objective, trainSubset(splits.train, config.trainEval.size), config.trainEval.steps, ck?.step ?? 0)
    : undefined;

  let latest: RoundPoint | undefined;
  let sourceEnd: SourceEnd | undefined;
  let last: StepEvent | undefined;
  /** The step of the last round whose event is in the log (or was meant to be thinned out): a checkpoint may point there. */
  let logged: number | undefined;
  let interrupted = false;
  let endedEarly = false;
  /** A run stopping early for any reason but divergence saves its last logged round (its state is alive until teardown). */
  const saveLatest = (): void => {
    try {
      if (latest !== undefined && latest.step === logged && latest.step !== checkpointer.lastStep) checkpointer.write(latest, 'stopped');
    } catch {
      // e.g. the disk is still full: the previous checkpoint stays in place
    }
  };
  const stop$ = aborted(opts.signal).pipe(
    tap(() => {
      interrupted = true;
      // Rounds run synchronously, so `latest` is a whole round, and takeUntil unsubscribes (freeing its state) only after this.
      if (latest !== undefined && latest.step !== checkpointer.lastStep) checkpointer.write(latest, 'signal');
    }),
  );
  const initialState = job.initialState;
  job.initialState = undefined; // the train operator owns it from here
  const events$ = source.pipe(
    train({
      objective,
      optimizer,
      steps: config.steps,
      seed: config.seed ?? 0,
      ...(initialState ? { initialState, start: { round: ck!.round, elapsedMs: ck!.elapsedMs } } : {}),
      ...(evaluate ? { evaluate } : {}),
      ...(comparisonSampler ? { comparison: () => comparisonSampler.next() } : {}),
      // A live feed's end is the run's end; batches short of a round are reported.
      ...(opts.source ? { untilSourceEnds: true, onSourceEnd: (end: SourceEnd) => (sourceEnd = end) } : {}),
      onRound: (state, e) => {
        const samplers = { sampler: sampler?.state() ?? null, comparisonSampler: comparisonSampler?.state() ?? null };
        latest = { state, step: e.step, round: e.round, elapsedMs: e.elapsedMs, ...samplers };
        onTrain?.onRound(state);
      },
    }),
    map((e) => (onTrain ? onTrain.annotate(e) : e)),
    tap((e) => (last = e)),
    ndjsonLines(log, (e) => thinner.keep(e)),
    tap((e) => (logged = e.step)),
    checkpointRounds(checkpointer, () => latest!, settings.checkpointEvery, config.steps),
    // Runs before the train operator's teardown frees the state: the last round can still be saved.
    tap({
      error: (err: unknown) => {
        if (!(err instanceof DivergenceError)) saveLatest();
      },
      complete: () => {
        // No round at all is NothingTrainedError's case (below); reaching --steps is the normal end.
        if (last === undefined || last.step >= config.steps) return;
        // The source ended first (a live feed closed): save where the run stands, to be resumed with more input.
        endedEarly = true;
        saveLatest();
      },
    }),
    takeUntil(stop$),
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
      writeJsonAtomic(join(dir, RUN_FILES.meta), { ...meta, ...outcome, stoppedAt: new Date().toISOString() });
      return undefined;
    } catch (err) {
      return err;
    }
  };
  const started = performance.now();
  try {
    await lastValueFrom(events$, { defaultValue: undefined });
    if (interrupted) throw new InterruptedError(latest?.step ?? ck?.step ?? 0, kept());
    if (endedEarly) throw new InputEndedError(last?.step ?? ck?.step ?? 0, config.steps, kept());
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
  if (last === undefined) {
    const err = new NothingTrainedError(sourceEnd);
    finish({ outcome: 'no-input', error: err.message });
    throw err;
  }
  const unrecorded = finish({ outcome: 'finished', finishedAt: new Date().toISOString(), wallMs, last, ...(sourceEnd ? { sourceEnd } : {}) });
  if (unrecorded !== undefined) throw unrecorded;
  return { last, events: log.lines - linesBefore, wallMs, ...(sourceEnd ? { sourceEnd } : {}) };
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
