import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliBundle, cliInProcess, removeCliBundle } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-live-end-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

const LIVE = ['--task', 'mlp', '--features', '2', '--classes', '2', '--batch-size', '16', '--optimizer', 'sgd'];
const records = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${JSON.stringify({ x: [Math.sin(from + i), Math.cos(from + i)], y: (from + i) % 2 })}\n`).join('');
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const steps = (dir: string) =>
  readFileSync(join(dir, 'events.ndjson'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number }).step);

/** The CLI in a child process with `input` on its standard input. */
async function withStdin(args: readonly string[], input: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [await cliBundle(), ...args], { env: { ...process.env, LGL2O_BACKEND: 'wasm' } });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stderr };
}

describe('a live run whose input ends before its steps', () => {
  it('checkpoints its last round, records "input-ended", exits 4 saying how to continue; --resume continues from there', async () => {
    const dir = join(root, 'short');
    // 100 records in batches of 16: six full batches and a last one of 4, one SGD step each.
    const first = await withStdin(['-q', 'run', ...LIVE, '--input', 'live:stdin', '--steps', '40', '--out', dir], records(100));
    expect(first.code, first.stderr).toBe(4);
    expect(first.stderr).toBe(
      `lgl2o: the input ended at step 7 of 40; checkpoint of step 7 in ${join(dir, 'checkpoint.json')} (live input: 100 records, 0 malformed lines); continue with more input: lgl2o run --resume ${dir}\n`,
    );
    expect(readJson(join(dir, 'run.json'))).toMatchObject({ outcome: 'input-ended', checkpoint: { step: 7 } });
    expect(readJson(join(dir, 'checkpoint.json'))).toMatchObject({ step: 7, reason: 'stopped' });

    const second = await withStdin(['-q', 'run', '--resume', dir], records(160, 100));
    expect(second.code, second.stderr).toBe(4);
    expect(second.stderr).toContain('the input ended at step 17 of 40; checkpoint of step 17');
    const third = await withStdin(['-q', 'run', '--resume', dir], records(1000, 260));
    expect(third.code, third.stderr).toBe(0);
    expect(readJson(join(dir, 'run.json'))['outcome']).toBe('finished');
    expect(steps(dir)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
  });

  it('with no record at all: exit 4, nothing to continue from, the count of what arrived', async () => {
    const r = await withStdin(['-q', 'run', ...LIVE, '--input', 'live:stdin', '--steps', '5', '--out', join(root, 'empty')], 'not json\n');
    expect(r.code).toBe(4);
    expect(r.stderr).toBe(
      'lgl2o: the input ended at step 0 of 5; no round was finished, nothing to continue from (live input: 0 records, 1 malformed lines (last: stdin line 1: invalid JSON (Unexpected token \'o\', "not json" is not valid JSON)))\n',
    );
    expect(readJson(join(root, 'empty', 'run.json'))['outcome']).toBe('input-ended');
  });

  it('stopped by --strict: its last round is checkpointed and the message says how to continue', async () => {
    const feed = join(root, 'strict.ndjson');
    writeFileSync(feed, `${records(64)}{"x":[1],"y":0}\n${records(64, 64)}`);
    const dir = join(root, 'strict');
    const r = await cliInProcess(['-q', 'run', ...LIVE, '--input', `live:file:${feed}`, '--strict', '--steps', '50', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `lgl2o: ${feed} line 65: x: expected 2 values, got 1; the run stopped (--strict) with its last round checkpointed: fix the input, then continue with: lgl2o run --resume ${dir}\n`,
    );
    expect(readJson(join(dir, 'checkpoint.json'))).toMatchObject({ step: 4, reason: 'stopped' });
    expect(readJson(join(dir, 'run.json'))['outcome']).toBe('failed');
  });
});

describe('a live input that cannot be opened is bad input (exit 2)', () => {
  it('a directory, a missing file, a port in use', async () => {
    const dirAsFile = await cliInProcess(['-q', 'run', ...LIVE, '--input', `live:file:${root}`, '--steps', '5', '--out', join(root, 'a')]);
    expect([dirAsFile.code, dirAsFile.stderr]).toEqual([2, `lgl2o: --input live:file:${root}: is a directory; name the file the records are appended to\n`]);
    const missing = await cliInProcess(['-q', 'run', ...LIVE, '--input', `live:file:${join(root, 'nope')}`, '--steps', '5', '--out', join(root, 'b')]);
    expect([missing.code, missing.stderr]).toEqual([2, `lgl2o: --input live:file:${join(root, 'nope')}: no such file\n`]);

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    mkdirSync(join(root, 'c'));
    const busy = await cliInProcess(['-q', 'run', ...LIVE, '--input', `live:tcp:${port}`, '--steps', '5', '--out', join(root, 'c', 'run')]);
    server.close();
    expect([busy.code, busy.stderr]).toEqual([2, `lgl2o: live:tcp:${port}: cannot listen on 127.0.0.1:${port} (the port is in use by another program)\n`]);
  });
});
