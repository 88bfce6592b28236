import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalJson, checksumProblem, configHash, decodeRunCheckpoint, encodeRunCheckpoint } from '../src/runs/checkpoint.js';
import { DEFAULT_SETTINGS } from '../src/runs/settings.js';
import { decodeStateData, encodeState, materializeState, stateProblems, TensorData, type StateData } from '../src/tensor/serialize.js';
import { disposeAll, type StateValue } from '../src/tensor/state.js';
import { writeFileAtomic } from '../jobs/files.js';
import { EventThinner } from '../src/runs/logSpacing.js';
import type { StepEvent } from '../src/runs/events.js';
import { NdjsonWriter } from '../streams/ndjson.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-format-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const bytesOf = (t: tf.Tensor) => Buffer.from(new Uint8Array(t.dataSync().buffer.slice(0))).toString('hex');
const decoded = (json: unknown): StateData => {
  const r = decodeStateData(json);
  if (E.isLeft(r)) throw new Error(r.left);
  return r.right;
};

describe('state serializer', () => {
  it('round-trips tensors bit for bit, and numbers JSON cannot hold', () => {
    const special = [NaN, -0, 0, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38, 0.1, -1 / 3];
    const state = {
      x: tf.tensor1d(special),
      counts: tf.tensor1d([-2147483648, 2147483647, 0], 'int32'),
      mask: tf.tensor1d([true, false, true], 'bool'),
      nested: {
        h: [
          tf.tensor2d([
            [1e-30, 2],
            [3, 4],
          ]),
          tf.zeros([0, 3]),
        ],
        note: 'a',
        flag: false,
        none: null,
      },
      numbers: [NaN, -0, Infinity, -Infinity, 2 ** 53, 5e-324, 0.1 + 0.2],
    };
    // Through JSON text, as the checkpoint file holds it.
    const back = materializeState(decoded(JSON.parse(JSON.stringify(encodeState(state)))));
    const b = back as typeof state;
    expect(bytesOf(b.x)).toBe(bytesOf(state.x));
    expect(b.x.dtype).toBe('float32');
    expect(Object.is(b.x.dataSync()[1], -0)).toBe(true);
    expect(Array.from(b.counts.dataSync())).toEqual([-2147483648, 2147483647, 0]);
    expect(b.counts.dtype).toBe('int32');
    expect([b.mask.dtype, Array.from(b.mask.dataSync())]).toEqual(['bool', [1, 0, 1]]);
    expect(bytesOf(b.nested.h[0]!)).toBe(bytesOf(state.nested.h[0]!));
    expect(b.nested.h[1]!.shape).toEqual([0, 3]);
    expect([b.nested.note, b.nested.flag, b.nested.none]).toEqual(['a', false, null]);
    expect(b.numbers.map((n) => (Object.is(n, -0) ? '-0' : String(n)))).toEqual([
      'NaN',
      '-0',
      'Infinity',
      '-Infinity',
      '9007199254740992',
      '5e-324',
      '0.30000000000000004',
    ]);
    disposeAll([state, back]);
  });

  it('stores float32 data as its little-endian bytes in base64', () => {
    const x = tf.tensor1d([1, -2]);
    // 1 = 0x3F800000, −2 = 0xC0000000, little-endian.
    expect(encodeState(x)).toEqual({ $tensor: { dtype: 'float32', shape: [2], data: Buffer.from([0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0]).toString('base64') } });
    x.dispose();
  });

  it('rejects malformed tensor data naming the path', () => {
    const bad = (json: unknown) => {
      const r = decodeStateData(json);
      return E.isLeft(r) ? r.left : 'accepted';
    };
    const t = (fields: Record<string, unknown>) => ({ a: [{ $tensor: { dtype: 'float32', shape: [2], data: 'AAAAAAAAAA==', ...fields } }] });
    expect(bad(t({}))).toBe('state.a[0].$tensor.data: shape [2] needs 8 bytes of float32, got 7');
    expect(bad(t({ data: 'AAAAAAAAAAA' }))).toBe('state.a[0].$tensor.data: expected base64 text');
    expect(bad(t({ dtype: 'complex64' }))).toBe('state.a[0].$tensor.dtype: expected float32, int32 or bool, got "complex64"');
    expect(bad(t({ shape: [2, -1] }))).toBe('state.a[0].$tensor.shape: expected an array of integers ≥ 0');
    expect(bad(t({ extra: 1 }))).toBe('state.a[0].$tensor.extra: unknown key (known: dtype, shape, data)');
    expect(bad({ n: { $number: 'nan' } })).toBe('state.n: expected "NaN", "Infinity", "-Infinity" or "-0", got "nan"');
    expect(bad({ n: { $number: 'NaN', more: 1 } })).toBe('state.n: a $number object must have no other key');
    expect(bad(JSON.parse('{"__proto__": {"x": 1}}'))).toBe('state: the key __proto__ is not allowed');
  });

  it('checks a loaded state against a fresh one: shapes, dtypes, keys and kinds', () => {
    const template: StateValue = { x: tf.zeros([4]), step: 0, opt: { m: tf.zeros([4]), t: 0 }, mu: null, recent: [], layers: [tf.zeros([4, 2])] };
    const data = (fields: Record<string, StateData>): StateData => ({
      x: new TensorData('float32', [4], new Float32Array(4)),
      step: 7,
      opt: { m: new TensorData('float32', [4], new Float32Array(4)), t: 7 },
      mu: 0.5,
      recent: [0.5, 0.25],
      layers: [new TensorData('float32', [4, 2], new Float32Array(8))],
      ...fields,
    });
    expect(stateProblems(template, data({}))).toEqual([]);
    expect(stateProblems(template, data({ x: new TensorData('float32', [5], new Float32Array(5)) }))).toEqual(['state.x: expected shape [4], got [5]']);
    expect(stateProblems(template, data({ x: new TensorData('int32', [4], new Int32Array(4)) }))).toEqual(['state.x: expected dtype float32, got int32']);
    expect(stateProblems(template, data({ opt: { t: 1 } }))).toEqual(['state.opt.m: missing']);
    expect(stateProblems(template, data({ extra: 1 }))).toEqual(['state.extra: unknown for this optimizer']);
    expect(stateProblems(template, data({ step: 'seven' }))).toEqual(['state.step: expected a number, got a string']);
    expect(stateProblems(template, data({ mu: new TensorData('float32', [], new Float32Array(1)) }))).toEqual(['state.mu: expected null, got a tensor']);
    expect(stateProblems(template, data({ layers: [] }))).toEqual(['state.layers: expected 1 entries, got 0']);
    expect(stateProblems(template, data({ x: 3 }))).toEqual(['state.x: expected a float32 tensor of shape [4], got a number']);
    disposeAll(template);
  });
});

describe('run checkpoint codec', () => {
  const config = { task: 'quadratic', optimizer: { type: 'sgd' as const }, steps: 100 };
  const header = {
    config,
    settings: DEFAULT_SETTINGS,
    backend: 'wasm',
    step: 30,
    round: 30,
    elapsedMs: 1.5,
    log: { bytes: 10, lines: 1 },
    sampler: null,
    comparisonSampler: null,
    reason: 'interval' as const,
    savedAt: 'now',
    inputs: { config: configHash(config), l2o: null },
  };

  it('decodes what it encodes', () => {
    const state = { x: tf.tensor1d([1, 2]), step: 30, opt: { t: 30 } };
    const r = decodeRunCheckpoint(JSON.parse(encodeRunCheckpoint(header, state)), 'ck.json');
    expect(E.isRight(r) && { ...r.right, state: undefined }).toEqual({ ...header, state: undefined });
    disposeAll(state);
  });

  it('ends with the sha256 of the text before it; one changed character anywhere is caught', () => {
    const state = { x: tf.tensor1d([1, 2]), step: 30, opt: { t: 30 } };
    const text = encodeRunCheckpoint(header, state);
    disposeAll(state);
    const tail = /,"sha256":"([0-9a-f]{64})"\}\n$/.exec(text)!;
    // The hash, computed independently by node's crypto over the body closed with `}`.
    expect(tail[1]).toBe(
      createHash('sha256')
        .update(`${text.slice(0, tail.index)}}`)
        .digest('hex'),
    );
    expect(checksumProblem(text)).toBeUndefined();
    const at = text.indexOf('"data":"') + 10; // inside the base64 of x
    const flipped = `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`;
    expect(checksumProblem(flipped)).toMatch(
      /^its content hashes to sha256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it was saved with: the file was changed or damaged/,
    );
    expect(checksumProblem(text.slice(0, 200))).toBe('no sha256 at its end: the file is cut short or was not written by lgl2o');
  });

  it('canonical JSON sorts keys at every level, so a config hashes the same however its keys are ordered', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: null }], e: 'x' })).toBe('{"a":[{"c":null,"d":2}],"b":1,"e":"x"}');
    expect(configHash({ steps: 100, optimizer: { type: 'sgd' }, task: 'quadratic' })).toBe(configHash(config));
    expect(configHash({ ...config, steps: 101 })).not.toBe(configHash(config));
  });

  it("refuses a state whose step is not the checkpoint's", () => {
    const state = { x: tf.tensor1d([1, 2]), step: 29, opt: { t: 29 } };
    const r = decodeRunCheckpoint(JSON.parse(encodeRunCheckpoint(header, state)), 'ck.json');
    expect(E.isLeft(r) && r.left.message).toBe("ck.json: state.step: expected 30 (the checkpoint's step), got 29");
    disposeAll(state);
  });
});

describe('event log thinning', () => {
  const ev = (step: number, extra: Partial<StepEvent> = {}): StepEvent => ({ step, round: step, loss: 1, elapsedMs: 0, ...extra });

  it('keeps every step up to dense, then the first step of each 1/perDecade decade, and the last', () => {
    const thinner = new EventThinner({ dense: 100, perDecade: 10 }, 10_000);
    const kept = Array.from({ length: 10_000 }, (_, i) => i + 1).filter((s) => thinner.keep(ev(s)));
    // Marks 100·10^(i/10): the first integer step at or past each (hand-computed).
    const marks = [126, 159, 200, 252, 317, 399, 502, 631, 795, 1000, 1259, 1585, 1996, 2512, 3163, 3982, 5012, 6310, 7944, 10_000];
    expect(kept).toEqual([...Array.from({ length: 100 }, (_, i) => i + 1), 101, ...marks]);
  });

  it('keeps the same rounds after a resume, and rounds whose decision a non-finite loss forced', () => {
    const spacing = { dense: 50, perDecade: 20 };
    const steps = Array.from({ length: 500 }, (_, i) => 10 * (i + 1));
    const full = new EventThinner(spacing, 5000);
    const whole = steps.filter((s) => full.keep(ev(s)));
    const resumed = new EventThinner(spacing, 5000, 2000);
    expect(steps.filter((s) => s > 2000 && resumed.keep(ev(s)))).toEqual(whole.filter((s) => s > 2000));
    const late = new EventThinner({ dense: 0, perDecade: 1 }, 1e9, 5000);
    expect(late.keep(ev(5010, { reason: 'learned loss is NaN', probed: true }))).toBe(true);
    expect(late.keep(ev(5020, { reason: 'learned optimizer not probed this round', probed: false }))).toBe(false);
    expect(late.keep(ev(5030, { testLoss: 0.5 }))).toBe(true);
    expect(late.keep(ev(5040))).toBe(false);
  });
});

describe('files', () => {
  it('replaces a file atomically, leaving no temporary file', () => {
    const path = join(root, 'a.json');
    writeFileAtomic(path, 'one\n');
    writeFileAtomic(path, 'two\n');
    expect(readFileSync(path, 'utf8')).toBe('two\n');
    expect(readdirSync(root).filter((f) => f.startsWith('a.json'))).toEqual(['a.json']);
  });

  it('an NDJSON writer knows its length in bytes and lines, also when appending', () => {
    const path = join(root, 'log.ndjson');
    const w = new NdjsonWriter(path);
    w.write({ a: 'é', b: 0.1 + 0.2 });
    w.write({ c: [1, 2] });
    w.close();
    expect([w.bytes, w.lines]).toEqual([statSync(path).size, 2]);
    const more = new NdjsonWriter(path, { append: true });
    expect(more.bytes).toBe(statSync(path).size);
    more.write({ d: null });
    more.close();
    expect(more.bytes).toBe(statSync(path).size);
    expect(readFileSync(path, 'utf8')).toBe('{"a":"é","b":0.3}\n{"c":[1,2]}\n{"d":null}\n');
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });
});
