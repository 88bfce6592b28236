import { Command, Option } from 'commander';
import * as E from 'fp-ts/lib/Either.js';
import { accessSync, constants, existsSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { readRunDir, RUN_FILES, type SavedRun } from '../../src/checkpoint/runDir.js';
import { DEFAULT_SETTINGS, type JobSettings } from '../../src/checkpoint/settings.js';
import type { RunConfig } from '../../src/config/run.js';
import { LIVE_TASK_ID, TASK_IDS } from '../../src/tasks/index.js';
import { makeDirs } from '../../streams/checkpoint.js';
import { InterruptedError, prepareJob, runPrepared, type RunSummary } from '../../streams/runJob.js';
import { disposeAll } from '../../src/tensor/state.js';
import { CliError, EXIT } from '../errors.js';
import { integerAtLeast, numberIn, positiveNumber } from '../options.js';
import type { GlobalOptions } from '../main.js';
import { startBackend } from '../backend.js';
import { runConfigFrom, type RunFlags } from './runConfig.js';
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

/** Refuses an output directory holding another run's files, and an unwritable one, before any work. */
export function prepareOutDir(dir: string, force: boolean): void {
  checkOutDir(dir, force);
  createOutDir(dir);
}

/**
 * With LGL2O_PARENT_PID set (by a queue worker), a run whose parent dies (SIGKILL, OOM) stops
 * as on SIGTERM: it checkpoints and exits instead of running on as an orphan nobody reads.
 */
function watchParent(): () => void {
  const parent = Number(process.env['LGL2O_PARENT_PID']);
  if (!Number.isInteger(parent) || parent <= 0) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
  return () => clearInterval(timer);
}

/** Runs `fn` with an abort signal raised by the first SIGINT or SIGTERM; a second one kills as usual. */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const unwatch = watchParent();
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    controller.abort(name);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    unwatch();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

type CommandFlags = RunFlags & { out: string; force: boolean; resume?: string; checkpointEvery?: number; logDense: number; logPerDecade: number };

/** Flags that may go with --resume: they change how the run saves itself, not what it computes. */
const RESUME_FLAGS = new Set(['resume', 'checkpointEvery']);

function settingsFrom(flags: CommandFlags): JobSettings {
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

/** Prepares (all input checked), makes the directory, trains under SIGINT/SIGTERM handling. */
async function train(config: RunConfig, settings: JobSettings, out: string, g: GlobalOptions, resume?: SavedRun): Promise<void> {
  const backend = await startBackend(g);
  if (resume?.checkpoint && resume.checkpoint.backend !== backend && !g.quiet) {
    process.stderr.write(`lgl2o: note: the checkpoint was saved on the ${resume.checkpoint.backend} backend, this is ${backend}; the numbers will not continue bit for bit\n`);
  }
  const live = liveInputOf(config);
  const job = prepareJob(config, { settings, ...(resume ? { resume } : {}), ...(live ? { source: live.batches$ } : {}) });
  try {
    createOutDir(out);
    const summary = await withStopSignals((signal) => runPrepared(job, { outDir: out, backend, progress: g.progress, signal, ...(live ? { source: live.batches$ } : {}) }));
    if (live && !g.quiet) {
      const s = live.stats();
      process.stderr.write(`lgl2o: live input: ${s.records} records, ${s.malformed} malformed lines${s.lastError ? ` (last: ${s.lastError})` : ''}\n`);
    }
    report(g, out, backend, summary);
  } catch (err) {
    if (err instanceof InterruptedError) throw new CliError(`${err.message}; continue with: lgl2o run --resume ${out}`, EXIT.interrupted);
    throw err;
  } finally {
    if (job.initialState !== undefined) disposeAll(job.initialState);
  }
}

async function resumeRun(flags: CommandFlags, cmd: Command, g: GlobalOptions): Promise<void> {
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

export function runCommand(global: () => GlobalOptions): Command {
  return new Command('run')
    .description('train one optimizee with one optimizer or guard, writing DIR/events.ndjson and DIR/run.json')
    .option('--config <file>', 'a JSON run config (see README); flags below are then ignored')
    .addOption(new Option('--task <id>', `the optimizee and its data (${LIVE_TASK_ID}: an MLP on --input)`).choices([...TASK_IDS, LIVE_TASK_ID]).default('mlp-spirals'))
    .option('--input <source>', 'train on a live NDJSON feed {"x": [...], "y": label}: live:stdin, live:file:PATH (followed as it grows) or live:tcp:PORT (127.0.0.1); needs --task mlp')
    .option('--features <n>', 'live input: values per record', integerAtLeast(1))
    .option('--classes <n>', 'live input: number of classes (labels 0..n-1)', integerAtLeast(2))
    .option('--strict', 'live input: a malformed line stops the run, naming its line number (default: counted and skipped)')
    .addOption(new Option('--optimizer <name>', 'optimizer or guard').choices(['sgd', 'momentum', 'adam', 'l2o', 'gl2o', 'lgl2o']).default('lgl2o'))
    .option('--steps <n>', 'optimizer steps', integerAtLeast(1), 1000)
    .option('--seed <n>', 'seed of the initial parameters and the batch order', integerAtLeast(0), 0)
    .option('--batch-size <n>', 'examples per mini-batch', integerAtLeast(1), 128)
    .option('--eval-every <n>', 'evaluate test loss and accuracy every n steps on a fixed test subset', integerAtLeast(1))
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--out <dir>', 'output directory', 'results/run')
    .option('--force', 'overwrite an output directory that holds another run', false)
    .option('--resume <dir>', "continue the run saved in DIR from its last checkpoint, with its saved config")
    .option('--checkpoint-every <rounds>', `write DIR/checkpoint.json every n rounds (default ${DEFAULT_SETTINGS.checkpointEvery}); also on SIGINT/SIGTERM and at the end`, integerAtLeast(1))
    .option('--log-dense <steps>', 'log every round up to this step', integerAtLeast(0), DEFAULT_SETTINGS.log.dense)
    .option('--log-per-decade <n>', 'after --log-dense, log about n rounds per decade of steps (log-spaced)', integerAtLeast(0), DEFAULT_SETTINGS.log.perDecade)
    .option('--l2o <path>', 'learned optimizer checkpoint, "default" (shipped mlp-mnist) or "random:SEED"')
    .addOption(new Option('--fallback <name>', 'hand-designed optimizer the guards fall back to').choices(['sgd', 'momentum', 'adam']).default('sgd'))
    .option('--lr <x>', 'learning rate of the hand-designed optimizer (sgd: η0; default per task)', positiveNumber)
    .option('--tau <x>', 'τ of the schedule η0 (1 + t/τ)^(−1/p) (default per task)', positiveNumber)
    .option('--power <x>', 'p of the schedule (default 1.5)', positiveNumber)
    .option('--k <n>', 'lgl2o: steps per rollout (default 10)', integerAtLeast(1))
    .option('--m <n>', 'lgl2o: comparison batches per round (default 10)', integerAtLeast(1))
    .option('--anchor', 'lgl2o: anchored guard (ALGORITHMS §4b)')
    .addOption(new Option('--decision <rule>', 'lgl2o: strict (paper) or paired one-sided test').choices(['strict', 'paired']))
    .option('--z <x>', 'lgl2o: threshold of the paired test in standard errors (default 1.64)', numberIn(0, 100))
    .addOption(new Option('--state-policy <p>', "lgl2o: the unchosen optimizer's state after a round (default keep)").choices(['keep', 'reset']))
    .option('--adaptive', 'lgl2o: grow k and m when the candidates overlap (paper §4.2)')
    .option('--adaptive-growth <x>', 'lgl2o: growth factor of adaptive k and m', numberIn(1, 100, { exclusiveMin: true }), 2)
    .option('--adaptive-max-k <n>', 'lgl2o: largest adaptive k', integerAtLeast(1), 1000)
    .option('--adaptive-shrink', 'lgl2o: shrink k and m back when the candidates separate')
    .option('--backoff <R>', 'lgl2o: probe the learned optimizer every 2^min(r,R) rounds after r losses', integerAtLeast(0))
    .option('--delta <x>', 'gl2o: acceptance margin δ (default 0.05)', numberIn(0, 0.999999))
    .option('--theta <x>', 'gl2o: EMA weight θ (default 0.1)', numberIn(0, 1, { exclusiveMin: true }))
    .addOption(new Option('--sequence <s>', 'gl2o: μ sequence (default EMA)').choices(['GS', 'AA', 'EMA', 'RT', 'RM']))
    .action(async (flags: CommandFlags, cmd: Command) => {
      const g = global();
      if (flags.resume !== undefined) return resumeRun(flags, cmd, g);
      const config = runConfigFrom(flags);
      checkOutDir(flags.out, flags.force);
      await train(config, settingsFrom(flags), flags.out, g);
    });
}
