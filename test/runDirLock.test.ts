import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holderState, LOCK_FILE, lockDir, LockError, type LockHolder } from '../jobs/dirLock.js';
import { cliInProcess, removeCliBundle, startCli } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-lock-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

/** A run long enough (tens of seconds) that a second process starts while the first still trains. */
const LONG = ['-q', 'run', '--task', 'mlp-spirals', '--optimizer', 'sgd', '--steps', '1000000', '--checkpoint-every', '1'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A pid that is surely not running: a child that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((r) => child.once('close', r));
  return child.pid!;
}

const holder = (fields: Partial<LockHolder>): LockHolder => ({ pid: process.pid, host: hostname(), command: 'test', since: 'now', token: 't', ...fields });

describe('the lock of an output directory', () => {
  it('is held by one process at a time; the lock file names pid, host and command; release removes it', () => {
    const dir = join(root, 'unit');
    mkdirSync(dir);
    const lock = lockDir(dir, '--out unit', 'lgl2o run --out unit');
    const saved = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockHolder;
    expect([saved.pid, saved.host, saved.command]).toEqual([process.pid, hostname(), 'lgl2o run --out unit']);
    // A second taker in this very process finds a live holder (this pid).
    expect(() => lockDir(dir, '--out unit', 'again')).toThrow(LockError);
    expect(() => lockDir(dir, '--out unit', 'again')).toThrow(
      `--out unit: in use by another lgl2o process (pid ${process.pid} on host ${hostname()}, "lgl2o run --out unit"`,
    );
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    lockDir(dir, '--out unit', 'third').release();
  });

  it('tells a live holder from a stale one: dead pid, another boot, a reused pid; another host is unknown', async () => {
    expect(holderState(holder({}))).toBe('alive');
    expect(holderState(holder({ pid: await deadPid() }))).toBe('stale');
    expect(holderState(holder({ host: `not-${hostname()}` }))).toBe('unknown');
    if (existsSync('/proc/sys/kernel/random/boot_id')) {
      expect(holderState(holder({ bootId: 'another-boot' }))).toBe('stale');
      // This pid, but a process that started at another time: the pid was reused.
      expect(holderState(holder({ startTime: 1 }))).toBe('stale');
    }
  });

  it('takes over a stale lock and reports whose it was; refuses one from another host, saying how to clear it', async () => {
    const dir = join(root, 'stale');
    mkdirSync(dir);
    const pid = await deadPid();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder({ pid, command: 'lgl2o run --out stale', token: 'old' })));
    const lock = lockDir(dir, '--out stale', 'new');
    expect(lock.replaced?.pid).toBe(pid);
    lock.release();
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder({ host: 'elsewhere', token: 'far' })));
    expect(() => lockDir(dir, '--out stale', 'new')).toThrow(`--out stale: locked by a process on another host (pid ${process.pid} on host elsewhere`);
    expect(() => lockDir(dir, '--out stale', 'new')).toThrow(`if it no longer runs, remove ${join(dir, LOCK_FILE)}`);
  });

  it('the CLI notes a stale lock it takes over', async () => {
    const dir = join(root, 'cli-stale');
    mkdirSync(dir);
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder({ pid: await deadPid(), command: 'lgl2o run --out x', token: 'old' })));
    const r = await cliInProcess(['run', '--task', 'quadratic', '--optimizer', 'sgd', '--steps', '3', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: --out .*cli-stale: took over the lock left by pid \d+ \("lgl2o run --out x", since now\), which no longer runs/);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('meta-train and experiment refuse a directory held by a live process', async () => {
    for (const [name, args] of [
      ['meta', ['meta-train', '--task', 'quadratic', '--meta-steps', '1', '--out']],
      ['experiment', ['experiment', 'mlp-spirals', '--seeds', '1', '--steps', '10', '--out']],
    ] as const) {
      const dir = join(root, `held-${name}`);
      mkdirSync(dir);
      // This test process is the live holder.
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify(holder({ command: `lgl2o ${name}`, token: 'live' })));
      const r = await cliInProcess(['-q', ...args, dir]);
      expect([r.code, r.stderr], name).toEqual([
        2,
        `lgl2o: --out ${dir}: in use by another lgl2o process (pid ${process.pid} on host ${hostname()}, "lgl2o ${name}", since now); wait for it to end or stop it (kill ${process.pid})\n`,
      ]);
      expect(readdirSync(dir)).toEqual([LOCK_FILE]);
    }
  });

  it('two processes started together into one --out: one trains, the other exits 2 naming the holder; --resume of the live run is refused', async () => {
    const dir = join(root, 'race');
    const [a, b] = await Promise.all([startCli([...LONG, '--out', dir]), startCli([...LONG, '--out', dir])]);
    const first = await Promise.race([a.done.then(() => a), b.done.then(() => b)]);
    const loser = await first.done;
    const winner = first === a ? b : a;
    expect(loser.code, loser.stderr).toBe(2);
    expect(loser.stderr).toMatch(
      /^lgl2o: --out .*race: (in use by another lgl2o process \(pid \d+ on host .*, "lgl2o run --out .*race", since .*\); wait for it to end or stop it \(kill \d+\)|holds another run's files .*)\n$/,
    );
    expect(winner.child.exitCode).toBeNull();

    await until('the first checkpoint', () => existsSync(join(dir, 'checkpoint.json')));
    const resume = await startCli(['-q', 'run', '--resume', dir]);
    const refused = await resume.done;
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/^lgl2o: --resume .*race: in use by another lgl2o process \(pid (\d+) on host/);
    expect(refused.stderr).toContain(`pid ${winner.child.pid} `);

    winner.child.kill('SIGINT');
    const end = await winner.done;
    expect(end.code, end.stderr).toBe(130);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    // The log is whole lines of one run: every line parses and steps rise by one.
    const steps = readFileSync(join(dir, 'events.ndjson'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual(steps.map((_, i) => i + 1));
  });
});
