import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configHash } from '../src/runs/checkpoint.js';
import type { RunConfig } from '../src/config/run.js';
import { encodeCheckpoint } from '../src/l2o/weightsFile.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { cliInProcess, removeCliBundle, runCli } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-bad-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

/** Every file of a directory with its bytes, to prove a refused command wrote nothing. */
function snapshot(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

/** Runs the CLI quietly and expects exit code 2 with exactly one line on stderr, matching `message`. */
async function refused(args: readonly string[], message: RegExp): Promise<string> {
  const r = await cliInProcess(['-q', ...args]);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr, 'one line').toMatch(/^lgl2o: [^\n]+\n$/);
  expect(r.stderr).toMatch(message);
  return r.stderr;
}

/** A checkpoint as lgl2o writes it, computed here: JSON text ending with the sha256 of the text before it. */
function signed(ck: Record<string, unknown>): string {
  const { sha256: _s, ...body } = ck;
  const text = JSON.stringify(body);
  return `${text.slice(0, -1)},"sha256":"${createHash('sha256').update(text).digest('hex')}"}\n`;
}

/** The checkpoint of a run whose config now asks for 100 steps: config and its hash updated, as a stopped run's would be. */
function extended(dir: string): Record<string, unknown> {
  const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { config: { steps: number }; inputs: { config: string } };
  meta.config.steps = 100;
  meta.inputs.config = configHash(meta.config as RunConfig);
  writeFileSync(join(dir, 'run.json'), JSON.stringify(meta));
  const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as Record<string, unknown>;
  return { ...ck, config: meta.config, inputs: { ...(ck['inputs'] as object), config: meta.inputs.config } };
}

let configCount = 0;
function configFile(value: unknown): string {
  const path = join(root, `config-${++configCount}.json`);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

describe('configs', () => {
  const base = { task: 'quadratic', optimizer: { type: 'sgd' }, steps: 10 };
  const cases: [string, unknown, RegExp][] = [
    ['a wrong type', { ...base, optimizer: { type: 'sgd', lr: 'fast' } }, /: optimizer\.lr: expected a number in \[[^\]]+\], got "fast"$/m],
    ['an unknown key', { ...base, stepz: 5 }, /: stepz: unknown key \(known: task, optimizer, steps, seed, [^)]*\)$/m],
    ['an unknown nested key', { ...base, optimizer: { type: 'lgl2o', kk: 3 } }, /: optimizer\.kk: unknown key/],
    ['an out-of-range value', { ...base, steps: 0 }, /: steps: expected an integer in \[1, \d+\], got 0$/m],
    ['an out-of-range nested value', { ...base, optimizer: { type: 'lgl2o', k: -1 } }, /: optimizer\.k: expected an integer in \[1, \d+\], got -1$/m],
    [
      'an unknown optimizer type',
      { ...base, optimizer: { type: 'rmsprop' } },
      /: optimizer\.type: expected one of sgd, momentum, adam, l2o, lgl2o, gl2o, got "rmsprop"$/m,
    ],
    ['an unknown task', { ...base, task: 'mlp-nothing' }, /task mlp-nothing: .*unknown task/],
    ['truncated JSON', '{"task": "quadratic", "optimizer": {"ty', /: invalid JSON \(/],
    ['not an object', '[1, 2, 3]', /: \(top level\): expected an object \(RunConfig\), got \[1,2,3\]$/m],
  ];
  for (const [what, value, message] of cases) {
    it(`with ${what} exit 2 naming the field, and create nothing`, async () => {
      const out = join(root, `never-${configCount + 1}`);
      const path = configFile(value);
      const stderr = await refused(['run', '--config', path, '--out', out], message);
      expect(stderr.startsWith(`lgl2o: ${what === 'an unknown task' ? '' : path}`)).toBe(true);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('that cannot be read exit 2', async () => {
    await refused(['run', '--config', join(root, 'missing.json'), '--out', join(root, 'never')], /--config .*missing\.json: cannot read \(ENOENT/);
  });

  it('exit 2 from a real process too', async () => {
    const r = await runCli(['-q', 'run', '--config', configFile({ ...base, stepz: 5 }), '--out', join(root, 'never')]);
    expect([r.code, r.stderr.split('\n').length]).toEqual([2, 2]);
    expect(r.stderr).toMatch(/stepz: unknown key/);
  });
});

describe('checkpoints given to --resume', () => {
  const good = join(root, 'good');
  const spirals = join(root, 'spirals');
  beforeAll(async () => {
    for (const [dir, task] of [
      [good, 'quadratic'],
      [spirals, 'mlp-spirals'],
    ] as const) {
      const r = await cliInProcess(['-q', 'run', '--task', task, '--optimizer', 'adam', '--steps', '60', '--checkpoint-every', '20', '--out', dir]);
      expect(r.code, r.stderr).toBe(0);
    }
    const ck = JSON.parse(readFileSync(join(good, 'checkpoint.json'), 'utf8')) as { step: number };
    expect(ck.step).toBe(60);
  });

  /** A copy of the good run whose checkpoint.json is `edit`ed; resuming it must fail and change nothing. */
  async function corrupt(name: string, edit: (ck: Record<string, unknown>, text: string) => string, message: RegExp, from = good): Promise<void> {
    const dir = join(root, name);
    cpSync(from, dir, { recursive: true });
    // Pretend the run stopped at its checkpoint so that resuming has work to do.
    const ck = extended(dir);
    writeFileSync(join(dir, 'checkpoint.json'), edit(ck, signed(ck)));
    const before = snapshot(dir);
    await refused(['run', '--resume', dir], message);
    expect(snapshot(dir)).toEqual(before);
  }

  it('resume when intact (the control case)', async () => {
    const dir = join(root, 'control');
    cpSync(good, dir, { recursive: true });
    writeFileSync(join(dir, 'checkpoint.json'), signed(extended(dir)));
    const r = await cliInProcess(['-q', 'run', '--resume', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { step: number }).step).toBe(100);
  });

  it('of another version exit 2', () =>
    corrupt('version', (ck) => signed({ ...ck, version: 1 }), /checkpoint\.json: version: expected 3, got 1 \(written by another version of lgl2o\)$/m));

  it('with one byte changed after it was written exit 2', () =>
    corrupt(
      'changed',
      (_ck, text) => text.replace('"elapsedMs":', '"elapsedMs":1'),
      /checkpoint\.json: its content hashes to sha256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it was saved with/,
    ));

  it('saved for another config (its hash) exit 2', () =>
    corrupt(
      'config-hash',
      (ck) => signed({ ...ck, inputs: { ...(ck['inputs'] as object), config: '0'.repeat(64) } }),
      /checkpoint\.json: inputs\.config: saved for a config hashing to 000000000000…, but run\.json's hashes to [0-9a-f]{12}…$/m,
    ));

  it('with parameters of the wrong shape exit 2', () =>
    corrupt(
      'shape',
      (ck) => {
        const state = ck['state'] as Record<string, unknown>;
        return signed({ ...ck, state: { ...state, x: { $tensor: { dtype: 'float32', shape: [3], data: Buffer.alloc(12).toString('base64') } } } });
      },
      /checkpoint\.json: state\.x: expected shape \[10\], got \[3\]/,
    ));

  it('with tensor bytes that do not fill the shape exit 2', () =>
    corrupt(
      'bytes',
      (ck) => {
        const state = ck['state'] as Record<string, unknown>;
        return signed({ ...ck, state: { ...state, x: { $tensor: { dtype: 'float32', shape: [10], data: Buffer.alloc(36).toString('base64') } } } });
      },
      /state\.x\.\$tensor\.data: shape \[10\] needs 40 bytes of float32, got 36/,
    ));

  it('with a missing optimizer state exit 2', () =>
    corrupt(
      'missing',
      (ck) => {
        const { opt: _o, ...state } = ck['state'] as Record<string, unknown>;
        return signed({ ...ck, state });
      },
      /state\.opt: missing/,
    ));

  it('truncated exit 2', () => corrupt('truncated', (_ck, text) => text.slice(0, Math.floor(text.length / 2)), /checkpoint\.json: invalid JSON \(/));

  it('of another task exit 2', () =>
    corrupt(
      'other-task',
      () => readFileSync(join(spirals, 'checkpoint.json'), 'utf8'),
      /checkpoint\.json: a checkpoint of task mlp-spirals, but run\.json is a run of task quadratic$/m,
    ));

  it('whose event log was cut short exit 2', async () => {
    const dir = join(root, 'short-log');
    cpSync(good, dir, { recursive: true });
    writeFileSync(join(dir, 'checkpoint.json'), signed(extended(dir)));
    writeFileSync(join(dir, 'events.ndjson'), readFileSync(join(dir, 'events.ndjson')).subarray(0, 100));
    const before = snapshot(dir);
    await refused(['run', '--resume', dir], /the checkpoint needs the first \d+ bytes of events\.ndjson, which has 100/);
    expect(snapshot(dir)).toEqual(before);
  });

  it('of a directory that is not a run exit 2', async () => {
    mkdirSync(join(root, 'empty'));
    await refused(['run', '--resume', join(root, 'empty')], /empty: not a run directory \(run\.json is missing\)$/m);
  });

  it('with flags that would change the run exit 2', async () => {
    await refused(
      ['run', '--resume', good, '--task', 'mlp-spirals', '--steps', '5'],
      /--resume .*good: continues with the run's saved config; drop --task, --steps$/m,
    );
  });

  it('of a learned optimizer with wrong shapes exit 2', async () => {
    const weights = randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(3));
    const json = encodeCheckpoint({ architecture: DEFAULT_ARCHITECTURE, weights, meta: {} }) as {
      weights: Record<string, { shape: number[]; data: number[] }>;
    };
    disposeWeights(weights);
    json.weights['head.b'] = { shape: [2], data: [0, 0] };
    const path = join(root, 'l2o-bad.json');
    writeFileSync(path, JSON.stringify(json));
    await refused(
      ['run', '--task', 'quadratic', '--optimizer', 'lgl2o', '--l2o', path, '--out', join(root, 'never')],
      /l2o-bad\.json: weights\.head\.b: expected shape \[1\], got \[2\]$/m,
    );
    expect(existsSync(join(root, 'never'))).toBe(false);
  });
});

/** IDX bytes: magic 00 00 08 <rank>, big-endian dimensions, then uint8 data. */
function idx(dims: readonly number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(8, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

describe('dataset files', () => {
  function mnistDir(name: string, trainImages: Buffer, trainLabels = idx([3], Uint8Array.from([1, 2, 3]))): string {
    const dir = join(root, name);
    mkdirSync(dir);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), trainImages);
    writeFileSync(join(dir, 'train-labels-idx1-ubyte'), trainLabels);
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), idx([2, 28, 28], new Uint8Array(2 * 784)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idx([2], Uint8Array.from([0, 1])));
    return dir;
  }

  it('that are truncated exit 2 naming the file and byte', async () => {
    const dir = mnistDir('mnist-truncated', idx([3, 28, 28], new Uint8Array(784 + 100)));
    await refused(
      ['run', '--task', 'mlp-mnist', '--data', dir, '--optimizer', 'sgd', '--out', join(root, 'never')],
      /train-images-idx3-ubyte: byte 900: file is truncated: dimensions \[3, 28, 28\] need 2352 data bytes/,
    );
    expect(existsSync(join(root, 'never'))).toBe(false);
  });

  it('with a label out of range exit 2 naming the sample', async () => {
    const dir = mnistDir('mnist-label', idx([3, 28, 28], new Uint8Array(3 * 784)), idx([3], Uint8Array.from([1, 12, 3])));
    await refused(
      ['run', '--task', 'mlp-mnist', '--data', dir, '--optimizer', 'sgd', '--out', join(root, 'never')],
      /train-labels-idx1-ubyte: byte 9: label 12 of sample 1 is not in \[0, 10\)/,
    );
  });
});

describe('output directories', () => {
  const quick = ['run', '--task', 'quadratic', '--optimizer', 'sgd', '--steps', '20'];

  it('holding another run are refused without --resume or --force, untouched, and replaced with --force', async () => {
    const dir = join(root, 'taken');
    expect((await cliInProcess(['-q', ...quick, '--out', dir])).code).toBe(0);
    const before = snapshot(dir);
    await refused(
      [...quick, '--seed', '9', '--out', dir],
      /--out .*taken: holds another run's files \(.+\); pass --resume .*taken to continue it or --force to replace it$/m,
    );
    expect(snapshot(dir)).toEqual(before);
    const r = await cliInProcess(['-q', ...quick, '--seed', '9', '--out', dir, '--force']);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { config: { seed: number } }).config.seed).toBe(9);
  });

  it('that are files, or lie under a file, are refused before training', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    await refused([...quick, '--out', file], /--out .*a-file: exists and is not a directory$/m);
    await refused([...quick, '--out', join(file, 'sub', 'dir')], /--out .*a-file\/sub\/dir: cannot create it \(.*a-file is not a directory\)$/m);
    expect(statSync(file).isFile()).toBe(true);
  });

  it('that cannot be created are refused before training starts', async () => {
    // /proc accepts no new entries, whatever the permissions say (these tests may run as root).
    await refused([...quick, '--out', '/proc/lgl2o-out'], /--out \/proc\/lgl2o-out: not writable \(/);
  });
});
