import * as tf from '@tensorflow/tfjs';
import { existsSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, map, takeUntil, tap } from 'rxjs';
import type { RunConfig } from '../src/config/run.js';
import { gather } from '../src/data/dataset.js';
import { packageVersion } from '../src/paths.js';
import type { StepEvent } from '../src/runs/events.js';
import { EventThinner } from '../src/runs/logSpacing.js';
import { RUN_FILES } from '../src/runs/runDir.js';
import { trainEvaluator, trainSubset } from '../src/runs/trainEvaluator.js';
import { disposeAll } from '../src/tensor/state.js';
import { aborted } from '../streams/abort.js';
import { NdjsonWriter, ndjsonLines } from '../streams/ndjson.js';
import { progressBar } from '../streams/progress.js';
import { pulled } from '../streams/source.js';
import { DivergenceError, train } from '../streams/train.js';
import { checkpointRounds, Checkpointer, type RoundPoint } from './checkpointer.js';
import { makeDirs, writeJsonAtomic } from './files.js';
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

/**
 * Starts DIR/run.json: a fresh run's config, provenance and seeds (and the files of a previous
 * run removed), or a resumed run's saved record with this resumption added and its event log
 * cut back to the length the checkpoint recorded (dropping rounds after it and any torn line).
 */
function startRecord(job: PreparedJob, dir: string, backend: string): Record<string, unknown> {
  const { config, settings, task, optimizer, resume } = job;
  const ck = resume?.checkpoint;
  const seed = config.seed ?? 0;
  const eventsPath = join(dir, RUN_FILES.events);
  let meta: Record<string, unknown>;
  if (resume) {
    if (existsSync(eventsPath)) truncateSync(eventsPath, ck?.log.bytes ?? 0);
    const resumes = Array.isArray(resume.meta['resumes']) ? resume.meta['resumes'] : [];
    meta = { ...resume.meta, settings, resumes: [...resumes, { at: new Date().toISOString(), step: ck?.step ?? 0, backend }] };
  } else {
    for (const stale of [RUN_FILES.checkpoint, RUN_FILES.journal]) rmSync(join(dir, stale), { force: true });
    meta = {
      config,
      settings,
      task: task.describe,
      optimizer: optimizer.name,
      backend,
      versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
      seed,
      batchSeed: seed + BATCH_SEED_OFFSET,
      startedAt: new Date().toISOString(),
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
  const { config, settings, task, splits, objective, optimizer, sampler, comparisonSampler, resume } = job;
  const ck = resume?.checkpoint;
  const dir = opts.outDir;
  makeDirs(dir);
  const meta = startRecord(job, dir, opts.backend);

  const log = new NdjsonWriter(join(dir, RUN_FILES.events), { append: resume !== undefined });
  if (ck) log.lines = ck.log.lines;
  const linesBefore = log.lines;
  const checkpointer = new Checkpointer(dir, { config, settings, backend: opts.backend }, log, ck?.step);
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
  let last: StepEvent | undefined;
  let interrupted = false;
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
      onRound: (state, e) => {
        const samplers = { sampler: sampler?.state() ?? null, comparisonSampler: comparisonSampler?.state() ?? null };
        latest = { state, step: e.step, round: e.round, elapsedMs: e.elapsedMs, ...samplers };
        onTrain?.onRound(state);
      },
    }),
    map((e) => (onTrain ? onTrain.annotate(e) : e)),
    tap((e) => (last = e)),
    ndjsonLines(log, (e) => thinner.keep(e)),
    checkpointRounds(checkpointer, () => latest!, settings.checkpointEvery, config.steps),
    takeUntil(stop$),
    progressBar<StepEvent>({ total: config.steps, label: `${task.id} ${optimizer.name}`, enabled: opts.progress }),
  );

  const kept = () => (checkpointer.lastStep === undefined ? undefined : { path: checkpointer.path, step: checkpointer.lastStep });
  const finish = (outcome: Record<string, unknown>) => {
    log.close();
    writeJsonAtomic(join(dir, RUN_FILES.meta), { ...meta, ...outcome, stoppedAt: new Date().toISOString() });
  };
  const started = performance.now();
  try {
    await lastValueFrom(events$, { defaultValue: undefined });
    if (interrupted) throw new InterruptedError(latest?.step ?? ck?.step ?? 0, kept());
  } catch (err) {
    if (err instanceof DivergenceError) {
      finish({ outcome: 'diverged', divergence: err.divergence, last });
      throw new RunDivergedError(err.divergence, kept(), settings.checkpointEvery);
    }
    finish({ outcome: err instanceof InterruptedError ? 'interrupted' : 'failed', error: err instanceof Error ? err.message : String(err), last });
    throw err;
  }
  const wallMs = performance.now() - started;
  finish({ outcome: 'finished', finishedAt: new Date().toISOString(), wallMs, last });
  if (last === undefined) throw new Error('the run produced no event');
  return { last, events: log.lines - linesBefore, wallMs };
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
