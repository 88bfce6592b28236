import { gunzipSync, gzipSync } from 'node:zlib';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { RUN_FILES } from '../../src/runs/runDir.js';
import { makeDirs } from '../files.js';

/**
 * A run directory's files kept in Redis (one hash per job, a gzipped field per file), so that
 * any worker on any machine can resume a run from its last checkpoint and the coordinator
 * can collect the finished run without a shared file system.
 */
export type Snapshot = ReadonlyMap<string, Buffer>;

/** Locks, temporary files and other hidden files belong to the process that made them, not to the run. */
const isRunFile = (name: string) => !name.startsWith('.') && !name.endsWith('.tmp') && !name.endsWith('.lock');

/**
 * The run's files, checkpoint first: the event log only grows between checkpoints, so a log
 * read after its checkpoint always reaches the byte count the checkpoint recorded.
 */
export function readRunFiles(dir: string): Snapshot {
  const names = readdirSync(dir).filter((n) => isRunFile(n) && lstatSync(join(dir, n)).isFile());
  names.sort((a, b) => Number(b === RUN_FILES.checkpoint) - Number(a === RUN_FILES.checkpoint) || a.localeCompare(b));
  return new Map(names.map((n) => [n, readFileSync(join(dir, n))]));
}

export function writeRunFiles(dir: string, files: Snapshot): void {
  makeDirs(dir);
  for (const [name, content] of files) {
    if (!isRunFile(name) || name.includes('/') || name.includes('\\')) throw new Error(`snapshot: refusing the file name ${JSON.stringify(name)}`);
    writeFileSync(join(dir, name), content);
  }
}

// Replaces the snapshot only while the writer still holds the job's BullMQ lock: a worker that
// lost its job (stalled, then taken by another) can no longer overwrite the new owner's state.
const FENCED_REPLACE = `
if ARGV[1] ~= '' and redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('del', KEYS[2])
if #ARGV > 1 then redis.call('hset', KEYS[2], unpack(ARGV, 2)) end
return 1`;

export class SnapshotStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  key(jobId: string): string {
    return `${this.prefix}:snapshot:${jobId}`;
  }

  /** Stores the files; with a lock (its key and token) only while the lock is held. Resolves false when it is not. */
  async save(jobId: string, files: Snapshot, lock?: { key: string; token: string }): Promise<boolean> {
    const args: (string | Buffer)[] = [lock?.token ?? ''];
    for (const [name, content] of files) args.push(`f:${name}`, gzipSync(content));
    const done = await this.redis.eval(FENCED_REPLACE, 2, lock?.key ?? `${this.prefix}:no-lock`, this.key(jobId), ...args);
    return done === 1;
  }

  async load(jobId: string): Promise<Snapshot | undefined> {
    const raw = await this.redis.hgetallBuffer(this.key(jobId));
    const files = new Map<string, Buffer>();
    for (const [field, value] of Object.entries(raw)) if (field.startsWith('f:')) files.set(field.slice(2), gunzipSync(value));
    return files.size > 0 ? files : undefined;
  }

  async exists(jobId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(jobId))) === 1;
  }

  async remove(jobId: string): Promise<void> {
    await this.redis.del(this.key(jobId));
  }
}
