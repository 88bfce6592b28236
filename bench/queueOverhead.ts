/**
 * `npm run bench:queue`: wall time of one experiment run by today's local pool (`--jobs 2`,
 * one process per run) against the same experiment on a BullMQ queue served by 2 local
 * workers (`lgl2o worker --concurrency 1`, started before the clock starts), alternating,
 * on a redis-server this script starts on a free port and stops. Prints a table and the
 * median ratio. A benchmark, not a test: compare the ratio of one invocation.
 *
 * Options: --setting ID (mlp-spirals) --seeds N (2) --steps S (1000) --reps R (2)
 */
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findSetting } from '../src/experiments/settings.js';
import { runExperiment } from '../jobs/experiment/runner.js';
import { processExecutor, type Executor } from '../jobs/experiment/pool.js';
import { queueExecutor } from '../jobs/queue/coordinator.js';
import { cliBundle, removeCliBundle, startCli, type CliProcess } from '../test/cliProcess.js';
import { freePort, RedisServer } from '../test/redisServer.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const settingId = option('setting', 'mlp-spirals');
const seeds = Number(option('seeds', '2'));
const steps = Number(option('steps', '1000'));
const reps = Number(option('reps', '2'));
const found = findSetting(settingId);
if (E.isLeft(found)) throw found.left;
const setting = found.right;

const tmp = mkdtempSync(join(tmpdir(), 'lgl2o-bench-queue-'));
const password = `bench-${Math.random().toString(36).slice(2)}`;
const redis = new RedisServer(await freePort(), password, tmp);
const workers: CliProcess[] = [];
try {
  const bundle = await cliBundle();
  const cli = [process.execPath, bundle];
  process.env['LGL2O_CLI'] = JSON.stringify(cli);
  await redis.start();
  const target = {
    address: { host: '127.0.0.1', port: redis.port, password, db: 0, tls: false },
    shown: `redis://:***@127.0.0.1:${redis.port}`,
    name: 'bench',
  };
  for (let i = 0; i < 2; i++)
    workers.push(await startCli(['--quiet', 'worker', '--queue', redis.url, '--queue-name', 'bench', '--work-dir', join(tmp, 'work')]));

  const time = async (name: string, executor: Executor, jobs: number): Promise<number> => {
    const outDir = join(tmp, name);
    const t0 = performance.now();
    await runExperiment({
      setting,
      params: { steps, seeds, l2o: 'random:1', trainSubset: 2000 },
      outDir,
      jobs,
      executor,
      progress: false,
      commandLine: 'bench',
    });
    const seconds = (performance.now() - t0) / 1000;
    rmSync(outDir, { recursive: true, force: true });
    return seconds;
  };
  const runs = setting.entries.length * seeds;
  console.log(`${setting.id}: ${runs} runs of ${steps} steps; local pool --jobs 2 vs queue with 2 workers (concurrency 1)\n`);
  console.log('| rep | local pool (s) | queue, 2 workers (s) | queue / local |');
  console.log('| ---: | ---: | ---: | ---: |');
  const ratios: number[] = [];
  const totals = { local: 0, queued: 0 };
  for (let rep = 1; rep <= reps; rep++) {
    const local = await time(`local-${rep}`, processExecutor(cli), 2);
    const q = queueExecutor({ target, l2o: 'random:1', pollMs: 500, log: (l) => console.error(l) });
    const queued = await time(`queue-${rep}`, q.executor, 100_000);
    await q.close();
    ratios.push(queued / local);
    totals.local += local;
    totals.queued += queued;
    console.log(`| ${rep} | ${local.toFixed(1)} | ${queued.toFixed(1)} | ${(queued / local).toFixed(3)} |`);
  }
  const sorted = [...ratios].sort((a, b) => a - b);
  const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  console.log(`\nmedian queue / local: ${median.toFixed(3)}; all reps: ${(totals.queued / totals.local).toFixed(3)}`);
} finally {
  for (const w of workers) w.child.kill('SIGTERM');
  await Promise.all(workers.map((w) => w.done.catch(() => undefined)));
  await redis.stop();
  rmSync(tmp, { recursive: true, force: true });
  removeCliBundle();
}
