import { Command, Option } from '@commander-js/extra-typings';
import { runWorker } from '../../jobs/queue/worker.js';
import type { GlobalOptions } from '../globalOptions.js';
import { integerAtLeast } from '../options.js';
import { withStopSignals } from '../signals.js';
import { cliCommand, DEFAULT_QUEUE_NAME, defaultWorkDir, QUEUE_HELP, queueTarget } from './queueFlags.js';

interface WorkerFlags {
  queue: string;
  queueName: string;
  concurrency: number;
  workDir: string;
  lockMs: number;
}

export function workerCommand(global: () => GlobalOptions): Command {
  return new Command('worker')
    .description('take runs of experiments and sweeps from a queue and run them (resumable; SIGINT/SIGTERM hands running jobs back at their checkpoint)')
    .requiredOption('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'the BullMQ queue', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'runs at once, each in its own process (one per core)', integerAtLeast(1), 1)
    .option('--work-dir <dir>', 'local scratch space for running jobs', defaultWorkDir())
    .addOption(
      new Option('--lock-ms <ms>', 'how long a silent worker keeps its jobs before they go to another').argParser(integerAtLeast(1000)).default(30_000),
    )
    .action(async (flags: WorkerFlags) => {
      const g = global();
      const target = queueTarget(flags.queue, flags.queueName);
      const log = (line: string) => (g.quiet ? undefined : process.stderr.write(`lgl2o: ${line}\n`));
      // The first SIGINT/SIGTERM/SIGHUP hands the running jobs back; a second one exits at once.
      const tally = await withStopSignals((signal) =>
        runWorker({
          target,
          concurrency: flags.concurrency,
          workDir: flags.workDir,
          cli: cliCommand(),
          lockMs: flags.lockMs,
          syncMs: 500,
          log,
          signal,
        }),
      );
      if (g.json) process.stdout.write(`${JSON.stringify(tally)}\n`);
      else process.stdout.write(`worker stopped: ${tally.completed} job(s) done, ${tally.failed} failed\n`);
    });
}
