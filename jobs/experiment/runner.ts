import * as E from 'fp-ts/lib/Either.js';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { checkpointFileOf } from '../../src/l2o/shipped.js';
import { decodeWith, parseJson } from '../../src/codec/decode.js';
import { fmt } from '../../src/experiments/claims.js';
import { formatDuration } from '../../src/experiments/eta.js';
import { Manifest, manifestConflict, planRuns, seedList, type ExperimentParams, type PlannedRun } from '../../src/experiments/plan.js';
import { lastProgress } from '../../src/experiments/records.js';
import { buildReport, curvesData, figureSpecs, reportMarkdown, type Report } from '../../src/experiments/report.js';
import type { Setting } from '../../src/experiments/settings.js';
import type { Execution, Executor, RunExit } from './pool.js';
import { collectResults, readTiming, runState, type RunState } from './results.js';
import { progressDisplay, type RunView } from './progress.js';
import { writeFigure } from '../renderFigure.js';
import { lockDir, LockError, type DirLock } from '../dirLock.js';
import { makeDirs, removeFile, writeFileAtomic, writeJsonAtomic } from '../files.js';

/** An experiment that could not go on; `exitCode` follows the CLI's codes (2 bad input, 130 interrupted (the CLI gives 129 after SIGHUP), 1 failed). */
export class ExperimentError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExperimentError';
  }
}

export interface ExperimentOptions {
  readonly setting: Setting;
  readonly params: ExperimentParams;
  readonly outDir: string;
  /** Runs executing at once, each in its own process (one per core). */
  readonly jobs: number;
  /** Runs that really execute at once, for the ETA, when it is not `jobs` (runs on a queue: its workers). */
  readonly etaJobs?: number;
  /** How each run is executed (jobs/experiment/pool.ts): in its own CLI process, or in this one. */
  readonly executor: Executor;
  readonly progress: boolean;
  /** The command line recorded in the report. */
  readonly commandLine: string;
  readonly signal?: AbortSignal;
  /** Only (re)write the report from the runs that are done. */
  readonly reportOnly?: boolean;
  /** Run only these entries (ids) now; the others stay as they are, and the report covers what is done. */
  readonly only?: readonly string[];
  /** How often running runs' logs are read for progress, in ms. */
  readonly pollMs?: number;
}

export interface ExperimentOutcome {
  readonly report: Report;
  readonly markdown: string;
  readonly files: readonly string[];
  /** Runs started by this call, and runs found done and skipped. */
  readonly ran: number;
  readonly skipped: number;
}

function readManifest(dir: string): Manifest | undefined {
  const path = join(dir, 'experiment.json');
  if (!existsSync(path)) return undefined;
  const m = E.chain((raw: unknown) => decodeWith(Manifest, raw, path))(parseJson(readFileSync(path, 'utf8'), path));
  if (E.isLeft(m)) throw new ExperimentError(m.left.message, 2);
  return m.right;
}

/** SHA-256 of the learned optimizer's checkpoint file (none for `random:SEED`, an unknown name or a missing file). */
export function checkpointSha256(l2o: string): string | undefined {
  const file = checkpointFileOf(l2o);
  if (E.isLeft(file) || file.right === undefined) return undefined;
  const path = file.right;
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : undefined;
}

/** Checks or writes DIR/experiment.json: a rerun must ask for the same experiment (more seeds are fine). */
function checkManifest(dir: string, now: Manifest): void {
  const path = join(dir, 'experiment.json');
  const old = readManifest(dir);
  if (old) {
    const conflict = manifestConflict(old, now);
    if (conflict) throw new ExperimentError(`--out ${dir}: holds another experiment (${conflict}); choose another --out`, 2);
    if (old.seeds >= now.seeds) return;
  }
  writeJsonAtomic(path, now);
}

/** The last complete event of a growing log, from its last 16 KB. */
export function tailProgress(path: string) {
  if (!existsSync(path)) return undefined;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 16_384);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    return lastProgress(buf.toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

/** Runs what is left of an experiment, `jobs` runs at a time, with progress; then its report. */
export async function runExperiment(o: ExperimentOptions): Promise<ExperimentOutcome> {
  makeDirs(o.outDir);
  // One process at a time: the manifest, the runs and the report are all written under the lock.
  let lock: DirLock;
  try {
    lock = lockDir(o.outDir, `--out ${o.outDir}`, o.commandLine);
  } catch (err) {
    if (err instanceof LockError) throw new ExperimentError(err.message, 2);
    throw err;
  }
  try {
    return await runLocked(o);
  } finally {
    lock.release();
  }
}

async function runLocked(o: ExperimentOptions): Promise<ExperimentOutcome> {
  const { setting } = o;
  const saved = o.reportOnly ? readManifest(o.outDir) : undefined;
  // A report alone describes the experiment as it was started.
  const params: ExperimentParams = saved
    ? {
        steps: saved.steps,
        seeds: saved.seeds,
        l2o: saved.l2o,
        trainSubset: saved.trainSubset,
        ...(saved.dataDir !== undefined ? { dataDir: saved.dataDir } : {}),
      }
    : o.params;
  const planned = planRuns(setting, params);
  let ran = 0;
  let skipped = 0;
  const sha = saved ? saved.l2oSha256 : checkpointSha256(params.l2o);
  if (!o.reportOnly) {
    checkManifest(o.outDir, {
      setting: setting.id,
      steps: params.steps,
      seeds: params.seeds,
      l2o: params.l2o,
      trainSubset: params.trainSubset,
      ...(params.dataDir !== undefined ? { dataDir: params.dataDir } : {}),
      ...(sha !== undefined ? { l2oSha256: sha } : {}),
      command: o.commandLine,
      createdAt: new Date().toISOString(),
    });
    const chosen = o.only ? planned.filter((r) => o.only!.includes(r.entry.id)) : planned;
    ({ ran, skipped } = await executeRuns(o, chosen));
  }
  const commandLine = saved?.command ?? o.commandLine;
  return { ...(await writeReport({ ...o, params, commandLine }, planned, sha ?? readManifest(o.outDir)?.l2oSha256)), ran, skipped };
}

async function executeRuns(o: ExperimentOptions, planned: readonly PlannedRun[]): Promise<{ ran: number; skipped: number }> {
  const views = new Map<string, RunView>();
  const queue: PlannedRun[] = [];
  const states = new Map<string, RunState>();
  for (const run of planned) {
    const state = runState(join(o.outDir, run.dir));
    states.set(run.id, state);
    const base = { id: run.id, kind: run.entry.id, total: run.config.steps };
    if (state.kind === 'finished' || state.kind === 'diverged') {
      views.set(run.id, { ...base, done: run.config.steps, elapsedMs: state.wallMs, state: 'done' });
    } else {
      views.set(run.id, { ...base, done: 0, elapsedMs: 0, state: 'queued' });
      queue.push(run);
    }
  }
  const skipped = planned.length - queue.length;
  const display = progressDisplay({ enabled: o.progress, jobs: o.etaJobs ?? o.jobs });
  if (skipped > 0) display.log(`experiment ${o.setting.id}: ${skipped} of ${planned.length} runs already done, ${queue.length} to run`);
  const children = new Set<{ run: PlannedRun } & Execution>();
  let fatal: ExperimentError | undefined;
  const failures: string[] = [];
  const stopAll = () => children.forEach((c) => c.stop());
  const onAbort = () => {
    fatal ??= new ExperimentError('interrupted; rerun the same command to resume', 130);
    stopAll();
  };
  o.signal?.addEventListener('abort', onAbort);

  const poll = () => {
    for (const c of children) {
      const p = c.progress ? c.progress() : tailProgress(join(o.outDir, c.run.dir, 'events.ndjson'));
      const v = { ...views.get(c.run.id)!, state: c.waiting?.() ? ('queued' as const) : ('running' as const) };
      views.set(c.run.id, p ? { ...v, done: p.step, elapsedMs: p.elapsedMs, ...(p.loss !== undefined ? { loss: p.loss } : {}) } : v);
    }
    display.update([...views.values()]);
  };
  const timer = setInterval(poll, o.pollMs ?? 1000);

  const finish = (run: PlannedRun, r: RunExit) => {
    const dir = join(o.outDir, run.dir);
    const v = views.get(run.id)!;
    const message = r.message;
    const at = new Date().toISOString();
    if (r.cpuMs !== undefined) {
      const before = readTiming(dir);
      writeJsonAtomic(join(dir, 'timing.json'), { cpuMs: (before?.cpuMs ?? 0) + r.cpuMs, processes: (before?.processes ?? 0) + 1 });
    }
    if (r.code === 0) {
      const p = tailProgress(join(dir, 'events.ndjson'));
      views.set(run.id, { ...v, done: v.total, elapsedMs: p?.elapsedMs ?? r.wallMs, state: 'done' });
      display.log(`done ${run.id}: ${formatDuration(r.wallMs)}${p?.loss !== undefined ? `, last loss ${fmt(p.loss)}` : ''}`);
    } else if (r.code === 3) {
      writeJsonAtomic(join(dir, 'status.json'), { status: 'diverged', exitCode: 3, message, at, wallMs: r.wallMs });
      views.set(run.id, { ...v, done: v.total, state: 'done' });
      display.log(`diverged ${run.id}: ${message}`);
    } else if ((r.code === 130 || r.code === 129) && fatal !== undefined) {
      display.log(`stopped ${run.id}: ${message}`);
    } else {
      writeJsonAtomic(join(dir, 'status.json'), { status: 'failed', exitCode: r.code, message, at, wallMs: r.wallMs });
      views.set(run.id, { ...v, state: 'done' });
      if (r.code === 2 && fatal === undefined) {
        fatal = new ExperimentError(`${run.id}: ${message}`, 2);
        stopAll();
      } else failures.push(`${run.id} (exit ${r.code}): ${message}`);
      display.log(`failed ${run.id}: ${message}`);
    }
  };

  const worker = async () => {
    while (queue.length > 0 && fatal === undefined) {
      const run = queue.shift()!;
      views.set(run.id, { ...views.get(run.id)!, state: 'running' });
      const dir = join(o.outDir, run.dir);
      makeDirs(dir);
      // An interrupted run continues from its checkpoint; a failed one starts again.
      const mode = states.get(run.id)?.kind === 'started' ? 'resume' : 'fresh';
      removeFile(join(dir, 'status.json'));
      if (mode === 'fresh') {
        removeFile(join(dir, 'timing.json'));
        writeJsonAtomic(join(dir, 'config.json'), run.config);
      }
      display.log(`${mode === 'resume' ? 'resuming' : 'starting'} ${run.id}`);
      const child = { run, ...o.executor(run, dir, mode) };
      children.add(child);
      const r = await child.done;
      children.delete(child);
      finish(run, r);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  } finally {
    clearInterval(timer);
    o.signal?.removeEventListener('abort', onAbort);
    poll();
    display.stop();
  }
  if (fatal) throw fatal;
  if (failures.length > 0) throw new ExperimentError(`${failures.length} run(s) failed; rerun to retry them:\n${failures.join('\n')}`, 1);
  return { ran: planned.length - skipped, skipped };
}

/** Reads the runs that are done and writes DIR/claims.md, claims.json, curves.json and the figures. */
async function writeReport(
  o: ExperimentOptions,
  planned: readonly PlannedRun[],
  l2oSha256: string | undefined,
): Promise<Omit<ExperimentOutcome, 'ran' | 'skipped'>> {
  const results = collectResults(o.outDir, o.setting, o.params.steps, planned);
  if (results.runs.size === 0) throw new ExperimentError(`${o.outDir}: no finished runs to report on`, 1);
  const seeds = seedList(o.params.seeds);
  const report = buildReport(results, {
    seeds,
    l2o: o.params.l2o,
    trainSubset: o.params.trainSubset,
    command: o.commandLine,
    ...(l2oSha256 ? { l2oSha256 } : {}),
  });
  const files: string[] = [];
  const figures = figureSpecs(results, seeds.length);
  for (const f of figures) {
    const written = await writeFigure(f.spec, join(o.outDir, f.name));
    files.push(written.svg, written.png);
  }
  const markdown = reportMarkdown(
    report,
    figures.map((f) => f.name),
  );
  writeJsonAtomic(join(o.outDir, 'claims.json'), report);
  writeFileAtomic(join(o.outDir, 'claims.md'), markdown);
  writeJsonAtomic(join(o.outDir, 'curves.json'), curvesData(results));
  files.push(join(o.outDir, 'claims.json'), join(o.outDir, 'claims.md'), join(o.outDir, 'curves.json'));
  return { report, markdown, files };
}
