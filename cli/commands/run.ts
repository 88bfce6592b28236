import * as E from 'fp-ts/lib/Either.js';
import { accessSync, constants, existsSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readRunDir, RUN_FILES, type SavedRun } from '../../src/runs/runDir.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../../src/runs/settings.js';
import type { RunConfig } from '../../src/config/run.js';
import { makeDirs } from '../../jobs/files.js';
import { prepareJob } from '../../jobs/prepareJob.js';
import { InterruptedError, runPrepared, type RunSummary } from '../../jobs/runJob.js';
import { disposeAll } from '../../src/tensor/state.js';
import { CliError } from '../errors.js';
import type { GlobalOptions } from '../globalOptions.js';
import { startBackend } from '../backend.js';
import { stopExitCode, withStopSignals } from '../signals.js';
import { runConfigFrom } from './runConfig.js';
import { runOptions, type RunFlags } from './runFlags.js';
import { liveInputOf } from './liveInput.js';

const OWN_FILES: readonly string[] = Object.values(RUN_FILES);

/**
 * Refuses, before any work, an output path that cannot become a run directory: one that is
 * a file, lies under a file or an unwritable directory, or holds another run's files (unless
 * `force`). Creates nothing.
 */
export function checkOutDir(dir: string, force: boolean): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new CliError(`--out ${dir}: exists and is not a directory`);
    const files = readdirSync(dir).filter((f) => OWN_FILES.includes(f));
    if (files.length > 0 && !force) {
      throw new CliError(`--out ${dir}: holds another run's files (${files.join(', ')}); pass --resume ${dir} to continue it or --force to replace it`);
    }
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new CliError(`--out ${dir}: not writable`);
    }
    return;
  }
  let parent = dirname(resolve(dir));
  while (!existsSync(parent)) parent = dirname(parent);
  if (!statSync(parent).isDirectory()) throw new CliError(`--out ${dir}: cannot create it (${parent} is not a directory)`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new CliError(`--out ${dir}: cannot create it (${parent} is not writable)`);
  }
}

/** Creates the directory and proves it writable with a probe file (permissions alone do not tell root or read-only mounts). */
export function createOutDir(dir: string): void {
  const probe = join(dir, `.lgl2o-probe-${process.pid}`);
  try {
    makeDirs(dir);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (err) {
    rmSync(probe, { force: true });
    throw new CliError(`--out ${dir}: not writable (${err instanceof Error ? err.message : String(err)})`);
  }
}

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
    process.stdout.write(`done: ${l.step} steps in ${(summary.wallMs / 1000).toFixed(1)} s, loss ${l.loss.toPrecision(4)}${acc}; events in ${out}/${RUN_FILES.events}\n`);
  }
}

/** Prepares (all input checked), makes the directory, trains under SIGINT/SIGTERM/SIGHUP handling. */
async function train(config: RunConfig, settings: JobSettings, out: string, g: GlobalOptions, resume?: SavedRun): Promise<void> {
  const backend = await startBackend(g);
  if (resume?.checkpoint && resume.checkpoint.backend !== backend && !g.quiet) {
    process.stderr.write(`lgl2o: note: the checkpoint was saved on the ${resume.checkpoint.backend} backend, this is ${backend}; the numbers will not continue bit for bit\n`);
  }
  const live = liveInputOf(config);
  const job = prepareJob(config, { settings, ...(resume ? { resume } : {}), ...(live ? { source: live.batches$ } : {}) });
  let stopSignal: AbortSignal | undefined;
  try {
    createOutDir(out);
    const summary = await withStopSignals((signal) => {
      stopSignal = signal;
      return runPrepared(job, { outDir: out, backend, progress: g.progress, signal, ...(live ? { source: live.batches$ } : {}) });
    });
    if (live && !g.quiet) {
      const s = live.stats();
      process.stderr.write(`lgl2o: live input: ${s.records} records, ${s.malformed} malformed lines${s.lastError ? ` (last: ${s.lastError})` : ''}\n`);
    }
    report(g, out, backend, summary);
  } catch (err) {
    if (err instanceof InterruptedError) throw new CliError(`${err.message}; continue with: lgl2o run --resume ${out}`, stopExitCode(stopSignal?.reason));
    throw err;
  } finally {
    if (job.initialState !== undefined) disposeAll(job.initialState);
  }
}

async function resumeRun(flags: RunFlags, cmd: ReturnType<typeof runOptions>, g: GlobalOptions): Promise<void> {
  const dir = flags.resume!;
  const given = cmd.options.filter((o) => !RESUME_FLAGS.has(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli');
  if (given.length > 0) throw new CliError(`--resume ${dir}: continues with the run's saved config; drop ${given.map((o) => o.long ?? o.flags).join(', ')}`);
  const saved = readRunDir(dir);
  if (E.isLeft(saved)) throw saved.left;
  const { config, checkpoint } = saved.right;
  if (checkpoint && checkpoint.step >= config.steps) {
    process.stdout.write(g.json ? `${JSON.stringify({ out: dir, finished: true, step: checkpoint.step })}\n` : `${dir}: the run already finished (step ${checkpoint.step} of ${config.steps})\n`);
    return;
  }
  const settings = { ...saved.right.settings, ...(flags.checkpointEvery !== undefined ? { checkpointEvery: flags.checkpointEvery } : {}) };
  if (!g.quiet) process.stderr.write(`lgl2o: resuming ${dir} at step ${checkpoint?.step ?? 0} of ${config.steps}\n`);
  await train(config, settings, dir, g, saved.right);
}

export function runCommand(global: () => GlobalOptions) {
  return runOptions()
    .action(async (flags, cmd) => {
      const g = global();
      if (flags.resume !== undefined) return resumeRun(flags, cmd, g);
      const config = runConfigFrom(flags);
      checkOutDir(flags.out, flags.force);
      await train(config, settingsFrom(flags), flags.out, g);
    });
}
