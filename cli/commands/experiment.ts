import { Command } from '@commander-js/extra-typings';
import * as E from 'fp-ts/lib/Either.js';
import { join } from 'node:path';
import { claimsTable, lossTableMarkdown, pairedMarkdown } from '../../src/experiments/report.js';
import { TRAIN_SUBSET } from '../../src/experiments/plan.js';
import { findSetting, SETTING_IDS } from '../../src/experiments/settings.js';
import { ExperimentError, runExperiment } from '../../jobs/experiment/runner.js';
import { CliError, EXIT } from '../errors.js';
import type { GlobalOptions } from '../globalOptions.js';
import { L2O_HELP, integerAtLeast } from '../options.js';
import { DEFAULT_QUEUE_NAME, QUEUE_HELP, withExecution } from './queueFlags.js';
import { checkOutPath } from '../outDir.js';
import { stopExitCode, withStopSignals } from '../signals.js';

export interface ExperimentFlags {
  seeds: number;
  steps?: number;
  out?: string;
  l2o: string;
  data?: string;
  jobs: number;
  trainSubset: number;
  report: boolean;
  only?: string[];
  queue?: string;
  queueName: string;
}

/** The canonical command line of an experiment, recorded in its report. */
export function commandLine(name: string, f: ExperimentFlags, steps: number, out: string): string {
  const parts = ['lgl2o experiment', name, `--seeds ${f.seeds}`, `--steps ${steps}`, `--out ${out}`];
  if (f.l2o !== 'default') parts.push(`--l2o ${f.l2o}`);
  if (f.data) parts.push(`--data ${f.data}`);
  if (f.trainSubset !== TRAIN_SUBSET) parts.push(`--train-subset ${f.trainSubset}`);
  if (f.only) parts.push(`--only ${f.only.join(',')}`);
  return parts.join(' ');
}

export function experimentCommand(global: () => GlobalOptions) {
  return new Command('experiment')
    .description(`run one of the paper's experiments (all its optimizers × seeds, resumable), then write figures and a claims table: ${SETTING_IDS.join(', ')}`)
    .argument('<name>', 'the experiment')
    .option('--seeds <n>', 'seeds 0..n-1 per optimizer', integerAtLeast(1), 5)
    .option('--steps <n>', "optimizer steps per run (default: the experiment's)", integerAtLeast(1))
    .option('--out <dir>', 'output directory (default results/experiments/NAME)')
    .option('--l2o <source>', L2O_HELP, 'default')
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--jobs <n>', 'runs at once, each in its own process', integerAtLeast(1), 2)
    .option('--train-subset <n>', 'training examples on which the training loss is evaluated', integerAtLeast(1), TRAIN_SUBSET)
    .option('--report', 'only (re)write the report from the runs already done', false)
    .option('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'the BullMQ queue', DEFAULT_QUEUE_NAME)
    .option('--only <ids>', 'run only these optimizers now (comma-separated entry ids, e.g. sgd,adam); a later call runs the rest', (v: string) =>
      v
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    )
    .action(async (name: string, flags: ExperimentFlags) => {
      const g = global();
      const setting = findSetting(name);
      if (E.isLeft(setting)) throw new CliError(setting.left.message);
      const steps = flags.steps ?? setting.right.defaultSteps;
      const ids = setting.right.entries.map((e) => e.id);
      const unknown = (flags.only ?? []).filter((id) => !ids.includes(id));
      if (unknown.length > 0) throw new CliError(`--only ${unknown.join(',')}: not in experiment ${name} (its optimizers: ${ids.join(', ')})`);
      const out = flags.out ?? join('results', 'experiments', name);
      checkOutPath('--out', out);
      let stopReason: unknown;
      try {
        const log = (line: string) => (g.quiet ? undefined : process.stderr.write(`lgl2o: ${line}\n`));
        const outcome = await withStopSignals((signal) => {
          signal.addEventListener('abort', () => (stopReason = signal.reason));
          return withExecution(flags.report ? { queueName: flags.queueName, jobs: flags.jobs } : flags, flags.l2o, log, (x) =>
            runExperiment({
              setting: setting.right,
              params: { steps, seeds: flags.seeds, l2o: flags.l2o, trainSubset: flags.trainSubset, ...(flags.data ? { dataDir: flags.data } : {}) },
              outDir: out,
              ...x,
              progress: g.progress,
              commandLine: commandLine(name, flags, steps, out),
              signal,
              reportOnly: flags.report,
              ...(flags.only ? { only: flags.only } : {}),
            }),
          );
        });
        if (g.json) process.stdout.write(`${JSON.stringify({ ...outcome.report, files: outcome.files, ran: outcome.ran, skipped: outcome.skipped })}\n`);
        else {
          const r = outcome.report;
          process.stdout.write(
            `\n${r.title}: ${r.horizon} steps, seeds ${r.seeds.join(', ')}\n\n${claimsTable(r.claims)}\n\n${lossTableMarkdown(r.table)}\n\n` +
              (r.paired.length ? `Each guard against its fallback, seed by seed:\n\n${pairedMarkdown(r.paired, r.tableSteps)}\n\n` : ''),
          );
          process.stdout.write(`report: ${join(out, 'claims.md')}; figures: ${outcome.files.filter((f) => f.endsWith('.png')).join(', ')}\n`);
        }
      } catch (err) {
        if (err instanceof ExperimentError) {
          throw new CliError(err.message, err.exitCode === 130 ? stopExitCode(stopReason) : err.exitCode === 2 ? EXIT.badInput : EXIT.failed);
        }
        throw err;
      }
    });
}
