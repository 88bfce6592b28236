import { Command, Option } from 'commander';
import { existsSync, readdirSync, accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TASK_IDS } from '../../src/tasks/index.js';
import { runJob } from '../../streams/runJob.js';
import { CliError } from '../errors.js';
import { integerAtLeast, numberIn, positiveNumber } from '../options.js';
import type { GlobalOptions } from '../main.js';
import { startBackend } from '../backend.js';
import { runConfigFrom, type RunFlags } from './runConfig.js';

/** Refuses an output directory holding another run's files, and an unwritable one, before any work. */
export function prepareOutDir(dir: string, force: boolean): void {
  if (existsSync(dir)) {
    const files = readdirSync(dir).filter((f) => f === 'events.ndjson' || f === 'run.json');
    if (files.length > 0 && !force) throw new CliError(`--out ${dir}: holds another run's files (${files.join(', ')}); pass --force to overwrite`);
  } else {
    let parent = dirname(resolve(dir));
    while (!existsSync(parent)) parent = dirname(parent);
    try {
      accessSync(parent, constants.W_OK);
    } catch {
      throw new CliError(`--out ${dir}: cannot create it (${parent} is not writable)`);
    }
  }
  mkdirSync(dir, { recursive: true });
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new CliError(`--out ${dir}: not writable`);
  }
}

export function runCommand(global: () => GlobalOptions): Command {
  return new Command('run')
    .description('train one optimizee with one optimizer or guard, writing DIR/events.ndjson and DIR/run.json')
    .option('--config <file>', 'a JSON run config (see README); flags below are then ignored')
    .addOption(new Option('--task <id>', 'the optimizee and its data').choices(TASK_IDS).default('mlp-spirals'))
    .addOption(new Option('--optimizer <name>', 'optimizer or guard').choices(['sgd', 'momentum', 'adam', 'l2o', 'gl2o', 'lgl2o']).default('lgl2o'))
    .option('--steps <n>', 'optimizer steps', integerAtLeast(1), 1000)
    .option('--seed <n>', 'seed of the initial parameters and the batch order', integerAtLeast(0), 0)
    .option('--batch-size <n>', 'examples per mini-batch', integerAtLeast(1), 128)
    .option('--eval-every <n>', 'evaluate test loss and accuracy every n steps on a fixed test subset', integerAtLeast(1))
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--out <dir>', 'output directory', 'results/run')
    .option('--force', 'overwrite an output directory that holds another run', false)
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
    .action(async (flags: RunFlags & { out: string; force: boolean }) => {
      const g = global();
      const config = runConfigFrom(flags);
      prepareOutDir(flags.out, flags.force);
      const backend = await startBackend(g);
      const summary = await runJob(config, { outDir: flags.out, backend, progress: g.progress });
      if (g.json) process.stdout.write(`${JSON.stringify({ out: flags.out, backend, wallMs: summary.wallMs, last: summary.last })}\n`);
      else {
        const l = summary.last;
        const acc = l.testAccuracy === undefined ? '' : `, test accuracy ${(100 * l.testAccuracy).toFixed(2)}%`;
        process.stdout.write(`done: ${l.step} steps in ${(summary.wallMs / 1000).toFixed(1)} s, loss ${l.loss.toPrecision(4)}${acc}; events in ${flags.out}/events.ndjson\n`);
      }
    });
}
