import * as E from 'fp-ts/lib/Either.js';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunDir } from '../src/runs/runDir.js';
import { checkMemory, MEMORY_LIMIT } from '../src/config/limits.js';
import type { RunConfig } from '../src/config/run.js';
import { DecodeError } from '../src/codec/decode.js';
import { encodeCheckpoint } from '../src/l2o/weightsFile.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { TensorData } from '../src/tensor/serialize.js';
import { prepareJob } from '../jobs/prepareJob.js';
import { cliBundle, cliInProcess, removeCliBundle } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-limits-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

/** The CLI refuses with exit code 2 and one line on stderr matching `message`; `out` is never created. */
async function refused(args: readonly string[], message: RegExp): Promise<void> {
  const out = join(root, `never-${Math.random().toString(36).slice(2)}`);
  const r = await cliInProcess(['-q', ...args, '--out', out]);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr, 'one line').toMatch(/^lgl2o: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
  expect(existsSync(join(out, 'events.ndjson'))).toBe(false);
}

const file = (name: string, text: string) => {
  const path = join(root, name);
  writeFileSync(path, text);
  return path;
};

describe('reads with a size limit and a nesting limit', () => {
  it.skipIf(!existsSync('/dev/zero'))('/dev/zero as --config is refused at 16 MiB, in one line with exit 2', async () => {
    await refused(
      ['run', '--config', '/dev/zero'],
      /^lgl2o: --config \/dev\/zero: more than 16777216 bytes, the limit for a run config; is it the right file\?$/m,
    );
  });

  it('a config nested 10 000 levels deep is exit 2 naming the field, not a stack overflow', async () => {
    const path = file('deep.json', `{"task": "quadratic", "optimizer": {"type": "sgd", "lr": ${'['.repeat(10_000)}${']'.repeat(10_000)}}, "steps": 5}`);
    await refused(['run', '--config', path], /deep\.json: optimizer\.lr(\[0\])+\.\.\.: arrays and objects nested more than 64 levels deep$/m);
  });
});

describe('values beyond float32', () => {
  it('1e39 in --l2o weights is exit 2 naming the weight, not a divergence', async () => {
    const arch = { ...DEFAULT_ARCHITECTURE, hidden: 2, layers: 1 };
    const weights = randomWeights(arch, Rng.seeded(1));
    const doc = encodeCheckpoint({ architecture: arch, weights, meta: {} }) as { weights: Record<string, { data: number[] }> };
    disposeWeights(weights);
    doc.weights['head.b']!.data[0] = 1e39;
    const path = file('huge-l2o.json', JSON.stringify(doc));
    await refused(
      ['run', '--task', 'quadratic', '--optimizer', 'l2o', '--l2o', path, '--steps', '5'],
      /weights\.head\.b\.data\[0\]: 1e\+39 is not finite as float32/,
    );
  });

  it('a live record with 1e39 is counted malformed: a non-strict run goes on and exits 0', async () => {
    const records = Array.from({ length: 40 }, (_, i) => JSON.stringify({ x: [i === 5 ? 1e39 : i / 40, 1], y: i % 2 }));
    const feed = file('overflow.ndjson', `${records.join('\n')}\n`);
    const out = join(root, 'overflow-run');
    const r = await cliInProcess([
      'run',
      '--task',
      'mlp',
      '--input',
      `live:file:${feed}`,
      '--features',
      '2',
      '--classes',
      '2',
      '--batch-size',
      '13',
      '--optimizer',
      'sgd',
      '--steps',
      '3',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/live input: 39 records, 1 malformed lines \(of \d+ lines\), last: .*line 6: x\[0\]: 1e\+39 is outside the float32 range/);
  });

  it("a NaN in a run checkpoint's parameters is refused on resume, naming the tensor and index", async () => {
    const dir = join(root, 'nan-run');
    const r = await cliInProcess(['-q', 'run', '--task', 'quadratic', '--optimizer', 'adam', '--steps', '40', '--checkpoint-every', '20', '--out', dir]);
    expect(r.code, r.stderr).toBe(0);
    const saved = readRunDir(dir);
    if (E.isLeft(saved)) throw saved.left;
    const ck = saved.right.checkpoint!;
    const state = ck.state as { x: TensorData };
    const values = Float32Array.from(state.x.values);
    values[7] = NaN;
    const damaged = { ...ck, state: { ...(ck.state as object), x: new TensorData('float32', state.x.shape, values) } };
    const config = { ...saved.right.config, steps: 80 };
    expect(() => prepareJob(config, { resume: { ...saved.right, config, checkpoint: damaged } })).toThrow(
      new DecodeError(join(dir, 'checkpoint.json'), ['state.x: holds NaN at index 7 (a checkpoint keeps finite values only)']),
    );
  });
});

describe('memory needed per round, refused up front naming the flag', () => {
  it.each([
    [['--k', '1000000000'], /memory limit: optimizer\.k \(--k\): a round holds k \+ m = 1000000010 batches of /],
    [['--m', '1000000000'], /memory limit: optimizer\.m \(--m\): a round holds k \+ m = 1000000010 batches of /],
    [['--adaptive', '--adaptive-max-k', '100000000'], /optimizer\.adaptive\.maxK \(--adaptive-max-k\): a round holds up to 200000000 batches/],
    [['--batch-size', '1000000000'], /batchSize \(--batch-size\): a batch of 1000000000 examples × 2 float32 values needs 11\.2 GiB/],
  ])('lgl2o run %j', async (flags, message) => {
    await refused(['run', '--task', 'mlp-spirals', '--steps', '5', ...flags], message);
  });

  it('--features 100000000, and --features 1000000 with --batch-size 100000, name the flags', async () => {
    const live = ['run', '--task', 'mlp', '--input', 'live:stdin', '--classes', '2'];
    await refused([...live, '--features', '100000000'], /input\.features \(--features\): 100000000 features make an MLP of 2000000062 parameters/);
    await refused(
      [...live, '--features', '1000000', '--batch-size', '100000'],
      /batchSize \(--batch-size\): a batch of 100000 examples × 1000000 float32 values needs 373 GiB/,
    );
  });

  it('the limit is computed from k, m, the batch size and the features (hand-worked cases)', () => {
    const config = (optimizer: RunConfig['optimizer'], batchSize: number): RunConfig => ({ task: 'mlp-spirals', optimizer, steps: 10, batchSize });
    const lgl2o = (k: number, m: number): RunConfig['optimizer'] => ({ type: 'lgl2o', k, m });
    // A batch of 100 examples × (9 + 1) values × 4 bytes = 4 000 bytes; k + m = 25 batches = 100 000 bytes.
    expect(() => checkMemory(config(lgl2o(20, 5), 100), 9, 100_000)).not.toThrow();
    expect(() => checkMemory(config(lgl2o(20, 6), 100), 9, 100_000)).toThrow(
      'memory limit: optimizer.k (--k): a round holds k + m = 26 batches of 3.91 KiB, 102 KiB in all',
    );
    expect(() => checkMemory(config({ type: 'sgd' }, 2500), 9, 100_000)).not.toThrow();
    expect(() => checkMemory(config({ type: 'sgd' }, 2501), 9, 100_000)).toThrow(
      'memory limit: batchSize (--batch-size): a batch of 2501 examples × 9 float32 values needs 97.7 KiB',
    );
    expect(MEMORY_LIMIT).toBeGreaterThan(0);
    expect(MEMORY_LIMIT).toBeLessThanOrEqual(2 ** 31);
  });
});

describe('unclear errors made clear', () => {
  it('--l2o random:abc says bad seed', async () => {
    await refused(
      ['run', '--task', 'quadratic', '--optimizer', 'l2o', '--l2o', 'random:abc', '--steps', '5'],
      /random:abc: bad seed "abc" \(expected random:SEED, SEED an integer in \[0, 4294967295\]\)$/m,
    );
  });

  it('a live feed with no whole round (empty, binary, 3 values against --features 4) is exit 2 with counts of what arrived; run.json says no-input', async () => {
    const cases: [string, string][] = [
      ['', '0 records, 0 malformed lines (of 0 lines)'],
      ['\u0000\u0001\u00ff\n\u00fe\n', '0 records, 2 malformed lines (of 2 lines), last: stdin line 2: invalid JSON'],
      ['{"x":[1,2,3],"y":0}\n'.repeat(5), '0 records, 5 malformed lines (of 5 lines), last: stdin line 5: x: expected 4 values, got 3'],
    ];
    // Three processes at once: each needs its own standard input.
    await Promise.all(
      cases.map(async ([text, counts], i) => {
        const out = join(root, `empty-${i}`);
        const r = await cliWithStdin(['-q', 'run', '--task', 'mlp', '--input', 'live:stdin', '--features', '4', '--classes', '2', '--out', out], text);
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toMatch(/^lgl2o: [^\n]+\n$/);
        expect(r.stderr).toContain(`lgl2o: --input live:stdin: the feed ended before one whole round, nothing was trained: ${counts}`);
        expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).outcome).toBe('no-input');
      }),
    );
  });

  it('a followed file that stalls stops the run after --idle-timeout, exit 2 with counts', async () => {
    const feed = file('stalled.ndjson', '{"x":[1,2,3,4],"y":0}\nnot json\n');
    const out = join(root, 'stalled');
    const r = await cliInProcess([
      '-q',
      'run',
      '--task',
      'mlp',
      '--input',
      `live:file:${feed}`,
      '--features',
      '4',
      '--classes',
      '2',
      '--idle-timeout',
      '0.3',
      '--out',
      out,
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(
      `lgl2o: ${feed}: no complete line for 0.3 s (the idle timeout); the feed looks stalled; the run stopped: 1 records, 1 malformed lines (of 2 lines), last: ${feed} line 2: invalid JSON (Unexpected token 'o', "not json" is not valid JSON)\n`,
    );
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).outcome).not.toBe('finished');
  });
});

/** The CLI as a child process with `input` on its standard input. */
async function cliWithStdin(args: readonly string[], input: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [await cliBundle(), ...args], { env: { ...process.env, LGL2O_BACKEND: 'wasm' }, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdin!.end(Buffer.from(input, 'latin1'));
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stderr };
}
