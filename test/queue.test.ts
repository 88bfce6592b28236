import * as E from 'fp-ts/lib/Either.js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { planRuns } from '../src/experiments/plan.js';
import { ENTRIES, findSetting, type Setting } from '../src/experiments/settings.js';
import { parseRedisUrl, redactUrl } from '../src/config/redisUrl.js';
import { ExperimentError, runExperiment, type ExperimentOptions } from '../jobs/experiment/runner.js';
import { inProcessExecutor } from '../jobs/experiment/pool.js';
import { snapshotPrefix, type QueueTarget } from '../jobs/queue/connection.js';
import { queueExecutor } from '../jobs/queue/coordinator.js';
import { readRunFiles, SnapshotStore, writeRunFiles } from '../jobs/queue/snapshot.js';
import { cliBundle, cliInProcess, removeCliBundle, startCli, type CliProcess } from './cliProcess.js';
import { freePort, RedisServer } from './redisServer.js';

const tmp = mkdtempSync(join(tmpdir(), 'lgl2o-queue-'));
const password = `pw-${Math.random().toString(36).slice(2)}`;
const QUEUE = 'lgl2o-test';
let redis: RedisServer;
const workers: { cli: CliProcess; log: string[] }[] = [];

const spirals = findSetting('mlp-spirals');
if (E.isLeft(spirals)) throw spirals.left;
/** Two optimizers × two seeds, 300 steps: tiny runs, one of them a guard with rounds of 10 steps. */
const setting: Setting = { ...spirals.right, entries: [ENTRIES.sgd, ENTRIES.lgl2o], claims: ['lgl2o-best-of-both'] };
const params = { steps: 300, seeds: 2, l2o: 'random:1', trainSubset: 300 };
const options = (outDir: string, extra: Partial<ExperimentOptions> = {}): ExperimentOptions => ({
  setting,
  params,
  outDir,
  jobs: 1,
  executor: inProcessExecutor('wasm'),
  progress: false,
  commandLine: 'test',
  pollMs: 200,
  ...extra,
});

function startWorker(): Promise<void> {
  return startCli(['worker', '--queue', redis.url, '--queue-name', QUEUE, '--lock-ms', '2000', '--work-dir', join(tmp, 'work')]).then((cli) => {
    const log: string[] = [];
    const killOnExit = () => cli.child.kill('SIGKILL');
    process.once('exit', killOnExit);
    cli.child.once('exit', () => process.off('exit', killOnExit));
    cli.child.stderr!.on('data', (c: Buffer) => log.push(...c.toString().split('\n').filter(Boolean)));
    workers.push({ cli, log });
  });
}

beforeAll(async () => {
  const bundle = await cliBundle();
  // the workers start each run with this same bundle
  process.env['LGL2O_CLI'] = JSON.stringify([process.execPath, bundle]);
  redis = new RedisServer(await freePort(), password, tmp);
  await redis.start();
});

afterAll(async () => {
  for (const w of workers) if (w.cli.child.exitCode === null && w.cli.child.signalCode === null) w.cli.child.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.cli.done.catch(() => undefined)));
  await redis?.stop();
  delete process.env['LGL2O_CLI'];
  rmSync(tmp, { recursive: true, force: true });
  removeCliBundle();
});

describe('queue URLs', () => {
  it('parses host, port, password and database, and never shows the password', () => {
    expect(parseRedisUrl('redis://:s3cr%40t@10.0.0.5:6380/2')).toEqual(E.right({ host: '10.0.0.5', port: 6380, password: 's3cr@t', db: 2, tls: false }));
    expect(parseRedisUrl('rediss://alice:pw@redis.lab')).toEqual(
      E.right({ host: 'redis.lab', port: 6379, username: 'alice', password: 'pw', db: 0, tls: true }),
    );
    expect(redactUrl('redis://:s3cr%40t@10.0.0.5:6380/2')).toBe('redis://:***@10.0.0.5:6380/2');
    expect(redactUrl('redis://alice:pw@h:1')).toBe('redis://alice:***@h:1');
    expect(redactUrl('redis://h:1')).toBe('redis://h:1');
    const bad = parseRedisUrl('http://:hunter2@h:1');
    expect(E.isLeft(bad) && bad.left.message).toBe('--queue http://:***@h:1: unsupported scheme http: (expected redis://[:PASSWORD@]HOST:PORT)');
    const db = parseRedisUrl('redis://h:1/x');
    expect(E.isLeft(db) && db.left.message).toMatch(/database "x" is not a number/);
  });
});

const stripTiming = (text: string) => text.replace(/"elapsedMs":[^,}]+/g, '');
const target = (): QueueTarget => ({ address: { host: '127.0.0.1', port: redis.port, password, db: 0, tls: false }, shown: 'test', name: QUEUE });

describe('run snapshots in Redis', () => {
  it('leave out locks and temporary files, and are replaced only by the holder of the job lock', async () => {
    const dir = join(tmp, 'snap');
    mkdirSync(dir);
    const planted: [string, string][] = [
      ['events.ndjson', '{"step":1}\n'],
      ['checkpoint.json', '{}'],
      ['.lock', '123'],
      ['run.json.tmp', 'x'],
      ['other.lock', '1'],
    ];
    for (const [name, text] of planted) writeFileSync(join(dir, name), text);
    const files = readRunFiles(dir);
    expect([...files.keys()]).toEqual(['checkpoint.json', 'events.ndjson']); // the checkpoint is read first
    const connection = new Redis({ host: '127.0.0.1', port: redis.port, password, maxRetriesPerRequest: null });
    const store = new SnapshotStore(connection, 'lgl2o:snap-test');
    try {
      await connection.set('lock-of-job', 'token-a');
      expect(await store.save('job', files, { key: 'lock-of-job', token: 'token-b' })).toBe(false);
      expect(await store.load('job')).toBeUndefined();
      expect(await store.save('job', files, { key: 'lock-of-job', token: 'token-a' })).toBe(true);
      const back = await store.load('job');
      writeRunFiles(join(dir, 'copy'), back!);
      expect(readFileSync(join(dir, 'copy', 'events.ndjson'), 'utf8')).toBe('{"step":1}\n');
      expect(() => writeRunFiles(dir, new Map([['../escape', Buffer.from('')]]))).toThrow(/refusing the file name "..\/escape"/);
      await store.remove('job');
      await connection.del('lock-of-job');
    } finally {
      connection.disconnect();
    }
  });
});

describe('an experiment on the queue (redis-server, 3 worker processes)', () => {
  const local = join(tmp, 'local');
  const remote = join(tmp, 'remote');
  const coordinatorLog: string[] = [];
  const log = (line: string) => coordinatorLog.push(line);

  it('fails a malformed job alone, with a message naming the field; the workers go on', async () => {
    await Promise.all([startWorker(), startWorker(), startWorker()]);
    const connection = new Redis({ host: '127.0.0.1', port: redis.port, password, maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE, { connection });
    try {
      const job = await queue.add('run', { version: 1, runId: 'x', config: { task: 'mlp-spirals', steps: 'many' } }, { jobId: 'malformed' });
      const deadline = Date.now() + 30_000;
      while ((await job.getState()) !== 'failed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const failed = await queue.getJob('malformed');
      expect(failed?.failedReason).toMatch(/^malformed job payload: job malformed: config\.optimizer: expected .*; config\.steps: expected/);
      expect(failed?.attemptsMade).toBe(1); // unrecoverable: not retried
      await failed?.remove();
    } finally {
      await queue.close();
      connection.disconnect();
    }
    expect(workers.every((w) => w.cli.child.exitCode === null)).toBe(true);
  });

  it('survives a SIGKILLed worker, a restarted coordinator and a restarted Redis; the results equal a local run bit for bit', async () => {
    const reference = runExperiment(options(local));
    const storeConnection = new Redis({ host: '127.0.0.1', port: redis.port, password, maxRetriesPerRequest: null });
    storeConnection.on('error', () => undefined); // Redis restarts below
    const store = new SnapshotStore(storeConnection, snapshotPrefix(target()));
    const abort = new AbortController();
    const first = queueExecutor({ target: target(), l2o: params.l2o, pollMs: 200, checkpointEvery: 3, log });
    const interrupted = runExperiment(options(remote, { executor: first.executor, jobs: 100, signal: abort.signal })).catch((e: unknown) => e);

    // Wait for a job that has pushed a checkpoint from the middle of its run, then kill its worker.
    let victim: { id: string; step: number; pid: number } | undefined;
    const deadline = Date.now() + 60_000;
    while (victim === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      for (const w of workers) {
        const id = [...w.log]
          .reverse()
          .map((l) => /(?:starting|resuming) \S+ \(job (\S+)\)/.exec(l)?.[1])
          .find(Boolean);
        if (id === undefined) continue;
        const ck = (await store.load(id))?.get('checkpoint.json');
        const step = ck ? (JSON.parse(ck.toString()) as { step: number }).step : 0;
        if (step > 0 && step < params.steps) {
          victim = { id, step, pid: w.cli.child.pid! };
          w.cli.child.kill('SIGKILL');
          break;
        }
      }
    }
    storeConnection.disconnect();
    expect(victim).toBeDefined();
    // The coordinator stops; the jobs stay on the queue.
    abort.abort();
    const err = await interrupted;
    expect(err).toBeInstanceOf(ExperimentError);
    expect((err as ExperimentError).exitCode).toBe(130);
    await first.close();
    // Redis goes down and comes back (from its append-only file) while the workers run.
    await redis.stop();
    await new Promise((r) => setTimeout(r, 500));
    await redis.start();

    const second = queueExecutor({ target: target(), l2o: params.l2o, pollMs: 200, checkpointEvery: 3, log });
    const outcome = await runExperiment(options(remote, { executor: second.executor, jobs: 100 }));
    await second.close();
    expect(outcome.ran + outcome.skipped).toBe(4);
    await reference;

    // The killed run went on from its checkpoint on another worker, and its own process did not outlive its worker.
    const victimRun = planRuns(setting, params).find((r) => victim!.id.startsWith(`${r.entry.id}.${`seed-${r.seed}`}.`))!;
    const meta = JSON.parse(readFileSync(join(remote, victimRun.dir, 'run.json'), 'utf8')) as { resumes?: { step: number }[] };
    expect(meta.resumes?.[0]?.step).toBeGreaterThanOrEqual(victim!.step);
    const orphans = readdirSync('/proc').filter((p) => /^\d+$/.test(p) && readProc(p).includes(`worker-${victim!.pid}`));
    expect(orphans).toEqual([]);

    for (const run of planRuns(setting, params)) {
      const events = (root: string) => stripTiming(readFileSync(join(root, run.dir, 'events.ndjson'), 'utf8'));
      expect(events(remote), run.id).toBe(events(local));
      // counted once: one process reported each run's CPU time
      expect(JSON.parse(readFileSync(join(remote, run.dir, 'timing.json'), 'utf8'))).toMatchObject({ processes: 1 });
    }
    const table = (root: string) =>
      (JSON.parse(readFileSync(join(root, 'claims.json'), 'utf8')) as { table: { entry: string; at: unknown }[] }).table.map((r) => [r.entry, r.at]);
    expect(table(remote)).toEqual(table(local));
    expect(readFileSync(join(remote, 'claims.json'), 'utf8').replace(/"(cpu|wall)\w*":[^,}]+/g, '')).toBe(
      readFileSync(join(local, 'claims.json'), 'utf8').replace(/"(cpu|wall)\w*":[^,}]+/g, ''),
    );

    // Nothing is left on the queue or in Redis; no log shows the password.
    const connection = new Redis({ host: '127.0.0.1', port: redis.port, password, maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE, { connection });
    expect(Object.values(await queue.getJobCounts()).reduce((a, b) => a + b, 0)).toBe(0);
    expect(await connection.keys(`${snapshotPrefix(target())}:*`)).toEqual([]);
    await queue.close();
    connection.disconnect();
    const logs = [...coordinatorLog, ...workers.flatMap((w) => w.log)].join('\n');
    expect(logs).toMatch(/lgl2o: finished (sgd|lgl2o)\/seed-\d/);
    expect(logs).not.toContain(password);
  });
});

describe('a sweep on the queue', () => {
  it('runs every grid point on the workers and ranks the points by their final training loss', async () => {
    const out = join(tmp, 'sweep');
    const args = ['sweep', '--task', 'mlp-circles', '--grid', 'k=5,10', '--seeds', '1', '--steps', '100', '--l2o', 'random:1', '--train-subset', '200'];
    const r = await cliInProcess(['--json', ...args, '--out', out, '--queue', redis.url, '--queue-name', QUEUE]);
    expect(r.stderr).not.toContain(password);
    expect(r.stderr).toContain(`queue redis://:***@127.0.0.1:${redis.port} (${QUEUE}):`);
    expect(r.code).toBe(0);
    // independently: each run's training loss at step 100, straight from its event log
    const final = (point: string, seed: number) => {
      const lines = readFileSync(join(out, 'runs', point, `seed-${seed}`, 'events.ndjson'), 'utf8')
        .trim()
        .split('\n');
      return lines.map((l) => JSON.parse(l) as { step: number; trainLoss?: number }).find((e) => e.step >= 100 && e.trainLoss !== undefined)!.trainLoss!;
    };
    const means = ['k=5', 'k=10'].map((p) => [p, final(p, 0)] as const).sort((a, b) => a[1] - b[1]);
    const sweep = JSON.parse(readFileSync(join(out, 'sweep.json'), 'utf8')) as { ranking: { rank: number; setting: string; mean: number }[] };
    expect(sweep.ranking.map((x) => [x.setting, x.mean])).toEqual(means.map(([p, m]) => [p, expect.closeTo(m, 12)]));
    expect(readFileSync(join(out, 'sweep.md'), 'utf8')).toContain(`| 1 | ${means[0]![0]} |`);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ ranking: [{ rank: 1, setting: means[0]![0] }, { rank: 2 }] });
  });
});

describe('a worker stopped with SIGTERM', () => {
  it('checkpoints its run and hands the job straight back; another worker resumes it there', async () => {
    const out = join(tmp, 'handback');
    const sgdOnly: Setting = { ...setting, entries: [ENTRIES.sgd], claims: [] };
    // long enough that an idle machine is still in the run when a worker reports progress
    const long = { ...params, steps: 20_000, seeds: 1 };
    const q = queueExecutor({ target: target(), l2o: params.l2o, pollMs: 200, log: () => undefined });
    const running = runExperiment({ ...options(out), setting: sgdOnly, params: long, executor: q.executor, jobs: 100 });
    // a failed expectation below must not leave the experiment writing into a removed directory
    onTestFinished(() =>
      running.then(
        () => undefined,
        () => undefined,
      ),
    );
    const alive = workers.filter((w) => w.cli.child.exitCode === null && w.cli.child.signalCode === null);
    expect(alive.length).toBeGreaterThanOrEqual(2);
    let stopped: (typeof workers)[number] | undefined;
    const deadline = Date.now() + 60_000;
    while (stopped === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      // the worker whose latest sgd/seed-0 start (of this 3000-step run) has not finished yet
      const lastIndex = (w: (typeof workers)[number], re: RegExp) => w.log.reduce((at, l, i) => (re.test(l) ? i : at), -1);
      stopped = alive.find((w) => lastIndex(w, /(starting|resuming) sgd\/seed-0 \(job/) > lastIndex(w, /(finished|ended \(exit \d+\)) sgd\/seed-0/));
      if (stopped && !(await hasProgress())) stopped = undefined;
    }
    expect(stopped).toBeDefined();
    stopped!.cli.child.kill('SIGTERM');
    const end = await stopped!.cli.done;
    expect(end.code).toBe(0);
    expect(stopped!.log.join('\n')).toMatch(/returned sgd\/seed-0 to the queue at its last checkpoint/);
    // (earlier tests may have failed attempts on this worker: a lock lost while Redis was down)
    expect(end.stdout).toMatch(/^worker stopped: \d+ job\(s\) done, \d+ failed$/m);
    await running;
    await q.close();
    const meta = JSON.parse(readFileSync(join(out, 'runs', 'sgd', 'seed-0', 'run.json'), 'utf8')) as { resumes?: { step: number }[]; finishedAt?: string };
    expect(meta.resumes?.[0]?.step).toBeGreaterThan(0);
    expect(meta.finishedAt).toBeDefined();
  });
});

/** Whether some job on the test queue has reported a step > 0. */
async function hasProgress(): Promise<boolean> {
  const connection = new Redis({ host: '127.0.0.1', port: redis.port, password, maxRetriesPerRequest: null });
  const queue = new Queue(QUEUE, { connection });
  try {
    const active = await queue.getActive();
    return active.some((j) => typeof j.progress === 'object' && j.progress !== null && (j.progress as { step?: number }).step! > 0);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

function readProc(pid: string): string {
  try {
    return existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
  } catch {
    return '';
  }
}
