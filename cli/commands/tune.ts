import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import * as E from 'fp-ts/lib/Either.js';
import { join } from 'node:path';
import { defaultGrid, defaultTuneSteps, DEFAULT_ADAM_LRS, DEFAULT_SGD_LRS, gridProblem, type TuneGrid } from '../../src/experiments/tune.js';
import { findTask, TASK_IDS } from '../../src/tasks/index.js';
import { ExperimentError } from '../../jobs/experiment/runner.js';
import { runTune } from '../../jobs/experiment/tune.js';
import { startBackend } from '../backend.js';
import { CliError, EXIT } from '../errors.js';
import type { GlobalOptions } from '../globalOptions.js';
import { integerAtLeast } from '../options.js';
import { withExecution } from './queueFlags.js';
import { checkOutPath } from '../outDir.js';
import { stopExitCode, withStopSignals } from '../signals.js';

interface TuneFlags {
  task: string;
  sgdLr?: number[];
  sgdTau?: number[];
  adamLr?: number[];
  optimizers: ('sgd' | 'adam')[];
  steps?: number;
  seeds: number;
  out?: string;
  data?: string;
  jobs: number;
}

/** `0.1,0.3,1` → numbers; a bad entry is named (commander adds the flag). */
function numberList(value: string): number[] {
  const parts = value.split(',').map((v) => v.trim());
  return parts.map((p) => {
    const n = Number(p);
    if (p === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected comma-separated numbers, got "${p}" in "${value}"`);
    if (n <= 0) throw new InvalidArgumentError(`expected positive numbers, got ${p}`);
    return n;
  });
}

function optimizerList(value: string): ('sgd' | 'adam')[] {
  const parts = value.split(',').map((v) => v.trim());
  const bad = parts.find((p) => p !== 'sgd' && p !== 'adam');
  if (bad !== undefined) throw new InvalidArgumentError(`expected sgd, adam or sgd,adam, got "${bad}"`);
  return [...new Set(parts as ('sgd' | 'adam')[])];
}

function commandLine(f: TuneFlags, grid: TuneGrid, steps: number, out: string): string {
  const parts = ['lgl2o tune', `--task ${f.task}`, `--steps ${steps}`, `--seeds ${f.seeds}`];
  if (grid.sgdLr.length > 0) parts.push(`--sgd-lr ${grid.sgdLr.join(',')}`, `--sgd-tau ${grid.sgdTau.join(',')}`);
  if (grid.adamLr.length > 0) parts.push(`--adam-lr ${grid.adamLr.join(',')}`);
  if (f.optimizers.length < 2) parts.push(`--optimizers ${f.optimizers.join(',')}`);
  if (f.data) parts.push(`--data ${f.data}`);
  parts.push(`--out ${out}`);
  return parts.join(' ');
}

export function tuneCommand(global: () => GlobalOptions): Command {
  return new Command('tune')
    .description(
      "tune the hand-designed fallbacks for a task: a grid over SGDnm's η0 (and τ) and Adam's learning rate, each point trained for --steps on --seeds seeds (resumable runs), scored by its mean validation loss at the horizon (a diverged run: +∞); prints every point and the winners",
    )
    .addOption(new Option('--task <id>', 'the optimizee and its data').choices([...TASK_IDS]).makeOptionMandatory())
    .option('--sgd-lr <list>', `SGDnm's η0 values, comma-separated (default ${DEFAULT_SGD_LRS.join(',')})`, numberList)
    .option('--sgd-tau <list>', "SGDnm's τ values, comma-separated (default: the task's τ)", numberList)
    .option('--adam-lr <list>', `Adam's learning rates, comma-separated (default ${DEFAULT_ADAM_LRS.join(',')})`, numberList)
    .addOption(
      new Option('--optimizers <list>', 'which optimizers to tune: sgd, adam or sgd,adam')
        .argParser(optimizerList)
        .default(['sgd', 'adam'] as ('sgd' | 'adam')[], 'sgd,adam'),
    )
    .option('--steps <n>', 'optimizer steps per run: the horizon at which the validation loss is scored (default: conv-* 1000, others 2000)', integerAtLeast(1))
    .option('--seeds <n>', 'seeds 0..n-1 per grid point', integerAtLeast(1), 2)
    .option('--out <dir>', 'output directory (default results/tune/TASK); a rerun resumes it')
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--jobs <n>', 'runs at once, each in its own process', integerAtLeast(1), 2)
    .action(async (f: TuneFlags) => {
      const g = global();
      const task = findTask(f.task);
      if (E.isLeft(task)) throw new CliError(task.left.message);
      const base = defaultGrid(task.right.defaults);
      const grid: TuneGrid = {
        sgdLr: f.optimizers.includes('sgd') ? (f.sgdLr ?? base.sgdLr) : [],
        sgdTau: f.optimizers.includes('sgd') ? (f.sgdTau ?? base.sgdTau) : [],
        adamLr: f.optimizers.includes('adam') ? (f.adamLr ?? base.adamLr) : [],
      };
      const problem = gridProblem(grid);
      if (problem !== undefined) throw new CliError(problem);
      const steps = f.steps ?? defaultTuneSteps(f.task);
      const out = f.out ?? join('results', 'tune', f.task);
      checkOutPath('--out', out);
      const command = commandLine(f, grid, steps, out);
      const log = (line: string) => (g.quiet ? undefined : process.stderr.write(`lgl2o: ${line}\n`));
      const backend = await startBackend(g);
      let stopReason: unknown;
      try {
        const outcome = await withStopSignals((signal) => {
          signal.addEventListener('abort', () => (stopReason = signal.reason));
          return withExecution({ queueName: 'lgl2o', jobs: f.jobs }, 'default', log, (x) =>
            runTune({
              task: f.task,
              grid,
              steps,
              seeds: f.seeds,
              outDir: out,
              ...(f.data ? { dataDir: f.data } : {}),
              jobs: x.jobs,
              executor: x.executor,
              progress: g.progress,
              commandLine: command,
              backend,
              signal,
            }),
          );
        });
        if (g.json) {
          const finite = (v: number) => (Number.isFinite(v) ? v : null);
          const rows = outcome.rows.map((r) => ({
            ...r,
            score: finite(r.score),
            seeds: r.seeds.map((s) => ({ ...s, validationLoss: finite(s.validationLoss) })),
          }));
          process.stdout.write(`${JSON.stringify({ task: outcome.task, steps, seeds: f.seeds, winners: outcome.winners, rows, files: outcome.files })}\n`);
        } else {
          const w = outcome.winners;
          process.stdout.write(
            `\nFallbacks tuned on ${f.task}: ${steps} steps, ${f.seeds} seed(s), scored on the validation split\n\n${outcome.table}\n\n` +
              `winners: SGDnm ${w.sgd ?? 'none'}; Adam ${w.adam ?? 'none'}\nresults: ${join(out, 'tune.json')}, ${join(out, 'tune.md')}\n`,
          );
        }
      } catch (err) {
        if (err instanceof ExperimentError)
          throw new CliError(err.message, err.exitCode === 130 ? stopExitCode(stopReason) : err.exitCode === 2 ? EXIT.badInput : EXIT.failed);
        throw err;
      }
    });
}
