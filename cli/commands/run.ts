import * as E from 'fp-ts/lib/Either.js';
import { existsSync } from 'node:fs';
import { readRunDir, RUN_FILES, type SavedRun } from '../../src/runs/runDir.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../../src/runs/settings.js';
import type { RunConfig } from '../../src/config/run.js';
import type { DirLock } from '../../jobs/dirLock.js';
import { prepareJob } from '../../jobs/prepareJob.js';
import { InputEndedError, InterruptedError, NothingTrainedError, runPrepared, type RunSummary } from '../../jobs/runJob.js';
import { LiveIdleError, LiveRecordError, type LiveStats } from '../../streams/live.js';
import { WriteError } from '../../jobs/files.js';
import { disposeAll } from '../../src/tensor/state.js';
import { CliError, EXIT } from '../errors.js';
import type { GlobalOptions } from '../globalOptions.js';
import { startBackend } from '../backend.js';
import { checkOutDir, checkOutPath, createOutDir, lockOutDir } from '../outDir.js';
import { stopExitCode, withStopSignals } from '../signals.js';
import { checkRunFlags, runConfigFrom } from './runConfig.js';
import { runOptions, type RunFlags } from './runFlags.js';
import { liveInputOf } from './liveInput.js';

const OWN_FILES: readonly string[] = Object.values(RUN_FILES);

/** Flags that may go with --resume: they change how the run saves itself, not what it computes. */
const RESUME_FLAGS = new Set(['resume', 'checkpointEvery']);

function settingsFrom(flags: RunFlags): JobSettings {
  return { checkpointEvery: flags.checkpointEvery ?? DEFAULT_SETTINGS.checkpointEvery, log: { dense: flags.logDense, perDecade: flags.logPerDecade } };
}

function report(g: GlobalOptions, out: string, backend: string, summary: RunSummary): void {
  // cpuMs: this process's CPU time (user + system), for cost comparisons on a shared machine.
  const cpu = process.cpuUsage();
  if (g.json) process.stdout.write(`${JSON.stringify({ out, backend, wallMs: summary.wallMs, cpuMs: (cpu.user + cpu.system) / 1000, last: summary.last })}\n`);
  else {
    const l = summary.last;
    const acc = l.testAccuracy === undefined ? '' : `, test accuracy ${(100 * l.testAccuracy).toFixed(2)}%`;
    process.stdout.write(
      `done: ${l.step} steps in ${(summary.wallMs / 1000).toFixed(1)} s, loss ${l.loss.toPrecision(4)}${acc}; events in ${out}/${RUN_FILES.events}\n`,
    );
  }
}

/** Counts of what a live input delivered, with the latest problem and its line. */
function arrived(s: LiveStats): string {
  return `${s.records} records, ${s.malformed} malformed lines (of ${s.lines} lines)${s.lastError ? `, last: ${s.lastError}` : ''}`;
}

/**
 * Prepares (all input checked), makes the directory and takes its lock (a resume holds it
 * already), trains under SIGINT/SIGTERM/SIGHUP handling; a run that stops early has checkpointed
 * its last round and says how to continue.
 */
async function train(
  config: RunConfig,
  settings: JobSettings,
  out: string,
  g: GlobalOptions,
  resume?: { saved: SavedRun; lock: DirLock },
  force = false,
): Promise<void> {
  const backend = await startBackend(g);
  const ck = resume?.saved.checkpoint;
  if (ck && ck.backend !== backend && !g.quiet) {
    process.stderr.write(`lgl2o: note: the checkpoint was saved on the ${ck.backend} backend, this is ${backend}; the numbers will not continue bit for bit\n`);
  }
  const live = liveInputOf(config);
  const job = prepareJob(config, { settings, ...(resume ? { resume: resume.saved } : {}), ...(live ? { source: live.batches$ } : {}) });
  let lock = resume?.lock;
  const again = `lgl2o run --resume ${out}`;
  let stopSignal: AbortSignal | undefined;
  try {
    if (lock === undefined) {
      createOutDir(out);
      lock = lockOutDir(out, `--out ${out}`, g.quiet, `lgl2o run --out ${out}`);
      checkOutDir(out, force, OWN_FILES); // again, now that no other process can start a run there
    }
    const source = live ? { source: live.batches$ } : {};
    const summary = await withStopSignals((signal) => {
      stopSignal = signal;
      return runPrepared(job, { outDir: out, backend, progress: g.progress, signal, ...source });
    });
    if (live && !g.quiet) {
      process.stderr.write(`lgl2o: live input: ${arrived(live.stats())}\n`);
      const end = summary.sourceEnd;
      if (end)
        process.stderr.write(
          `lgl2o: the live input ended at step ${end.step} of ${config.steps}${end.unused > 0 ? `; its last ${end.unused} batches (a round needs ${end.needed}) were not trained on` : ''}\n`,
        );
    }
    report(g, out, backend, summary);
  } catch (err) {
    if (err instanceof InterruptedError) throw new CliError(`${err.message}; continue with: ${again}`, stopExitCode(stopSignal?.reason));
    if (err instanceof InputEndedError) {
      const what = live ? ` (live input: ${arrived(live.stats())})` : '';
      throw new CliError(`${err.message}${what}${err.checkpoint ? `; continue with more input: ${again}` : ''}`, EXIT.inputEnded);
    }
    if (err instanceof WriteError) throw new CliError(`${err.message}; the last checkpoint is kept: free space, then continue with: ${again}`);
    if (err instanceof LiveIdleError && live) throw new CliError(`${err.message}; the run stopped: ${arrived(live.stats())}`, EXIT.badInput);
    if (err instanceof NothingTrainedError && live) {
      const short = err.end && err.end.unused > 0 ? `, ${err.end.unused} of the ${err.end.needed} batches a round needs` : '';
      throw new CliError(
        `--input ${config.input!.live}: the feed ended before one whole round, nothing was trained: ${arrived(live.stats())}${short}`,
        EXIT.badInput,
      );
    }
    if (err instanceof LiveRecordError && live) {
      throw new CliError(`${err.message}; the run stopped (--strict) with its last round checkpointed: fix the input, then continue with: ${again}`);
    }
    throw err;
  } finally {
    if (lock !== resume?.lock) lock?.release();
    if (job.initialState !== undefined) disposeAll(job.initialState);
  }
}

async function resumeRun(flags: RunFlags, cmd: ReturnType<typeof runOptions>, g: GlobalOptions): Promise<void> {
  const dir = flags.resume!;
  const given = cmd.options.filter((o) => !RESUME_FLAGS.has(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli');
  if (given.length > 0) throw new CliError(`--resume ${dir}: continues with the run's saved config; drop ${given.map((o) => o.long ?? o.flags).join(', ')}`);
  checkOutPath('--resume', dir);
  if (!existsSync(dir)) throw new CliError(`--resume ${dir}: no such directory`);
  // Locked before anything is read: a run still writing there is refused, not read half-way.
  const lock = lockOutDir(dir, `--resume ${dir}`, g.quiet, `lgl2o run --resume ${dir}`);
  try {
    const saved = readRunDir(dir);
    if (E.isLeft(saved)) throw saved.left;
    const { config, checkpoint } = saved.right;
    if (checkpoint && checkpoint.step >= config.steps) {
      const done = { out: dir, finished: true, step: checkpoint.step };
      process.stdout.write(g.json ? `${JSON.stringify(done)}\n` : `${dir}: the run already finished (step ${checkpoint.step} of ${config.steps})\n`);
      return;
    }
    const settings = { ...saved.right.settings, ...(flags.checkpointEvery !== undefined ? { checkpointEvery: flags.checkpointEvery } : {}) };
    if (!g.quiet) process.stderr.write(`lgl2o: resuming ${dir} at step ${checkpoint?.step ?? 0} of ${config.steps}\n`);
    await train(config, settings, dir, g, { saved: saved.right, lock });
  } finally {
    lock.release();
  }
}

export function runCommand(global: () => GlobalOptions) {
  return runOptions().action(async (flags, cmd) => {
    const g = global();
    if (flags.resume !== undefined) return resumeRun(flags, cmd, g);
    checkRunFlags(flags, cmd);
    const config = runConfigFrom(flags);
    checkOutDir(flags.out, flags.force, OWN_FILES);
    await train(config, settingsFrom(flags), flags.out, g, undefined, flags.force);
  });
}
