import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { cliInProcess } from './cliProcess.js';

/**
 * A full disk, injected: `writeSync` on a chosen file throws the error the system gives
 * (ENOSPC, errno −28), after letting a number of writes through, and may first write part of
 * the bytes as a real short write does.
 */
const fault = vi.hoisted(() => ({ file: '', allow: 0, partial: false, fds: new Map<number, string>() }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const openSync = ((path: string, ...rest: unknown[]) => {
    const fd = (fs.openSync as (...a: unknown[]) => number)(path, ...rest);
    fault.fds.set(fd, String(path));
    return fd;
  }) as typeof fs.openSync;
  const writeSync = ((fd: number, buffer: Uint8Array, offset: number = 0, length?: number) => {
    const path = fault.fds.get(fd) ?? '';
    if (fault.file !== '' && path.endsWith(fault.file) && fault.allow-- <= 0) {
      if (fault.partial) fs.writeSync(fd, buffer, offset, Math.floor((length ?? buffer.length - offset) / 2));
      throw Object.assign(new Error(`ENOSPC: no space left on device, write`), { errno: -28, code: 'ENOSPC', syscall: 'write' });
    }
    return fs.writeSync(fd, buffer, offset, length);
  }) as typeof fs.writeSync;
  return { ...fs, openSync, writeSync, default: { ...fs, openSync, writeSync } };
});

const root = mkdtempSync(join(tmpdir(), 'lgl2o-full-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const RUN = [
  '-q',
  'run',
  '--task',
  'quadratic',
  '--optimizer',
  'lgl2o',
  '--l2o',
  'random:3',
  '--k',
  '2',
  '--m',
  '2',
  '--steps',
  '40',
  '--checkpoint-every',
  '2',
];
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

function inject(file: string, allow: number, partial = false): void {
  Object.assign(fault, { file, allow, partial });
}

describe('a full disk', () => {
  it('while checkpointing: one line naming the file and how to continue, exit 2, no .tmp left, run.json says failed; resume ends as an uninterrupted run', async () => {
    const ref = join(root, 'reference');
    inject('', 0);
    expect((await cliInProcess([...RUN, '--out', ref])).code).toBe(0);

    const dir = join(root, 'full');
    inject('checkpoint.json.tmp', 2); // the third checkpoint (step 12) does not fit
    const r = await cliInProcess([...RUN, '--out', dir]);
    inject('', 0);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `lgl2o: ${join(dir, 'checkpoint.json.tmp')}: cannot write, the disk is full (ENOSPC); the last checkpoint is kept: free space, then continue with: lgl2o run --resume ${dir}\n`,
    );
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const meta = readJson(join(dir, 'run.json'));
    expect(meta['outcome']).toBe('failed');
    expect(meta['error']).toContain('the disk is full (ENOSPC)');
    expect(readJson(join(dir, 'checkpoint.json'))['step']).toBe(8);

    const resumed = await cliInProcess(['-q', 'run', '--resume', dir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const got = readJson(join(dir, 'checkpoint.json'));
    const want = readJson(join(ref, 'checkpoint.json'));
    for (const key of ['step', 'round', 'state']) expect(got[key], key).toEqual(want[key]);
    expect(readFileSync(join(dir, 'events.ndjson'), 'utf8').replace(/"elapsedMs":[^,}]*/g, '')).toBe(
      readFileSync(join(ref, 'events.ndjson'), 'utf8').replace(/"elapsedMs":[^,}]*/g, ''),
    );
  });

  it('while appending to the event log: the half-written line is taken back, the log stays whole lines', async () => {
    const dir = join(root, 'log');
    inject('events.ndjson', 5, true);
    const r = await cliInProcess([...RUN, '--out', dir]);
    inject('', 0);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/events\.ndjson: cannot write, the disk is full \(ENOSPC\); the last checkpoint is kept/);
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8');
    expect(log.endsWith('\n')).toBe(true);
    expect(
      log
        .trimEnd()
        .split('\n')
        .map((l) => (JSON.parse(l) as { step: number }).step),
    ).toEqual([2, 4, 6, 8, 10]);
    // The checkpoint points into the log it has (step 10 at the latest: the round of step 12 was not logged).
    const ck = readJson(join(dir, 'checkpoint.json')) as { step: number; log: { lines: number; bytes: number } };
    expect(ck.step).toBeLessThanOrEqual(10);
    expect(ck.log.bytes).toBeLessThanOrEqual(Buffer.byteLength(log));
    const resumed = await cliInProcess(['-q', 'run', '--resume', dir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const steps = readFileSync(join(dir, 'events.ndjson'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { step: number }).step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => 2 * (i + 1)));
  });
});
