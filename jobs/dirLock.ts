import { randomUUID } from 'node:crypto';
import { closeSync, constants, linkSync, openSync, readFileSync, readSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { openForWrite, removeFile, writeAll } from './files.js';

/** The lock file of an output directory (a run, a meta-training run, an experiment). */
export const LOCK_FILE = '.lock';

/** Who holds a directory: enough to tell a live holder from one that crashed. */
export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  /** Linux: the boot the process ran in (a lock from before a reboot is stale). */
  readonly bootId?: string;
  /** Linux: the process's start time in clock ticks since boot (a reused pid is not the holder). */
  readonly startTime?: number;
  readonly command: string;
  readonly since: string;
  readonly token: string;
}

/** A directory held by another process (or whose holder cannot be checked from here). */
export class LockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockError';
  }
}

export interface DirLock {
  readonly path: string;
  /** A stale lock (its process gone) that was taken over, to be reported. */
  readonly replaced: LockHolder | undefined;
  release(): void;
}

const readText = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

const bootId = (): string | undefined => readText('/proc/sys/kernel/random/boot_id')?.trim();

/** Field 22 of /proc/PID/stat: the start time; the name in field 2 may hold spaces and parentheses. */
function startTimeOf(pid: number): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const t = Number(fields[19]);
  return Number.isFinite(t) ? t : undefined;
}

function me(command: string): LockHolder {
  const boot = bootId();
  const start = startTimeOf(process.pid);
  return {
    pid: process.pid,
    host: hostname(),
    ...(boot !== undefined ? { bootId: boot } : {}),
    ...(start !== undefined ? { startTime: start } : {}),
    command,
    since: new Date().toISOString(),
    token: randomUUID(),
  };
}

/** Reads a lock file without following a link; undefined when it is gone. Lock files are small. */
function readHolder(path: string): LockHolder | 'unreadable' | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : 'unreadable';
  }
  try {
    const buf = Buffer.alloc(4096);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const h = JSON.parse(buf.subarray(0, n).toString('utf8')) as Partial<LockHolder>;
    if (typeof h.pid !== 'number' || typeof h.host !== 'string' || typeof h.token !== 'string') return 'unreadable';
    return { command: '?', since: '?', ...h } as LockHolder;
  } catch {
    return 'unreadable';
  } finally {
    closeSync(fd);
  }
}

/** 'stale' only when sure: the holder ran on this host and its process is gone (or the machine rebooted). */
export function holderState(h: LockHolder): 'alive' | 'stale' | 'unknown' {
  if (h.host !== hostname()) return 'unknown';
  const boot = bootId();
  if (h.bootId !== undefined && boot !== undefined && h.bootId !== boot) return 'stale';
  try {
    process.kill(h.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'stale' : 'alive';
  }
  const start = h.startTime === undefined ? undefined : startTimeOf(h.pid);
  return start !== undefined && start !== h.startTime ? 'stale' : 'alive';
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

const describeHolder = (h: LockHolder) => `pid ${h.pid} on host ${h.host}, "${h.command}", since ${h.since}`;

/** Creates `path` holding `holder`, atomically and complete (a link to a finished temporary file); false if it exists. */
function tryCreate(path: string, holder: LockHolder): boolean {
  const tmp = `${path}.${holder.pid}.${holder.token}.tmp`;
  const fd = openForWrite(tmp, 'exclusive');
  try {
    writeAll(fd, Buffer.from(`${JSON.stringify(holder)}\n`), tmp);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    removeFile(tmp);
  }
}

/**
 * Takes the exclusive lock of `dir` (which must exist) for this process: DIR/.lock is created
 * atomically with this process's pid, host and command. A lock left by a process that is gone
 * (same host) is taken over and reported in `replaced`; a live holder, or one on another host,
 * is a `LockError` saying who holds it and how to clear it. `what` names the directory in
 * messages (e.g. "--out results/run"). The lock is released by `release()` or at process exit.
 */
export function lockDir(dir: string, what: string, command: string): DirLock {
  const path = join(dir, LOCK_FILE);
  const mine = me(command);
  let replaced: LockHolder | undefined;
  for (let attempt = 0; ; attempt++) {
    if (tryCreate(path, mine)) break;
    const holder = readHolder(path);
    if (holder === undefined && attempt < 20) continue; // released meanwhile
    if (holder === undefined || holder === 'unreadable') {
      throw new LockError(`${what}: ${path} exists but is not a readable lock; if no lgl2o process uses ${dir}, remove ${path}`);
    }
    const state = holderState(holder);
    if (state === 'alive')
      throw new LockError(`${what}: in use by another lgl2o process (${describeHolder(holder)}); wait for it to end or stop it (kill ${holder.pid})`);
    if (state === 'unknown')
      throw new LockError(`${what}: locked by a process on another host (${describeHolder(holder)}); if it no longer runs, remove ${path}`);
    const outcome = takeOver(path, holder, mine);
    if (outcome === 'taken') {
      replaced = holder;
      break;
    }
    if (attempt >= 20) {
      throw new LockError(
        `${what}: its lock was left by ${describeHolder(holder)}, which no longer runs, and could not be taken over; remove ${path} and ${path}.takeover`,
      );
    }
    if (outcome === 'busy') sleepMs(10);
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off('exit', release);
    const now = readHolder(path);
    if (now !== undefined && now !== 'unreadable' && now.token === mine.token) removeFile(path);
  };
  process.on('exit', release);
  return { path, replaced, release };
}

/**
 * Replaces a stale lock under a second lock (DIR/.lock.takeover), so that of two processes
 * finding the same stale lock only one removes it, and a fresh lock is never removed.
 */
function takeOver(path: string, stale: LockHolder, mine: LockHolder): 'taken' | 'lost' | 'busy' {
  const guard = `${path}.takeover`;
  if (!tryCreate(guard, mine)) return 'busy';
  try {
    const now = readHolder(path);
    if (now !== undefined && now !== 'unreadable' && now.token === stale.token) removeFile(path);
    return tryCreate(path, mine) ? 'taken' : 'lost';
  } finally {
    removeFile(guard);
  }
}
