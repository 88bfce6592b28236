import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { existsSync, mkdtempSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { configHash, decodeRunCheckpoint, encodeRunCheckpoint, readRunCheckpoint } from '../src/runs/checkpoint.js';
import { readRunDir } from '../src/runs/runDir.js';
import { DEFAULT_SETTINGS } from '../src/runs/settings.js';
import { DecodeError, decodeWith, FLOAT32_MAX, MAX_JSON_DEPTH, parseJson, tooDeep } from '../src/codec/decode.js';
import { READ_LIMITS, readTextFile } from '../src/codec/readText.js';
import { RunConfig } from '../src/config/run.js';
import { DATA_FILE_LIMIT } from '../src/data/files.js';
import { maybeGunzip, parseIdx, readIdx } from '../src/data/idx.js';
import { decodeRecord } from '../src/data/record.js';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint, loadCheckpoint } from '../src/l2o/weightsFile.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { materializeState, stateProblems } from '../src/tensor/serialize.js';
import { disposeAll } from '../src/tensor/state.js';

/**
 * The decoders of outside data, fed random bytes, random JSON and random mutations of valid
 * documents: each returns a value or a `DecodeError` whose message is one line, and never
 * throws anything.
 */
type Decoder = (input: Uint8Array | unknown) => E.Either<DecodeError, unknown>;

const text = (input: Uint8Array | unknown): string =>
  input instanceof Uint8Array ? Buffer.from(input).toString('utf8') : typeof input === 'string' ? input : (JSON.stringify(input) ?? '');

const decodeConfig: Decoder = (input) =>
  pipe(
    parseJson(text(input), 'config.json'),
    E.chain((json) => decodeWith(RunConfig, json, 'config.json')),
  );
const decodeRun: Decoder = (input) =>
  pipe(
    parseJson(text(input), 'checkpoint.json'),
    E.chain((json) => decodeRunCheckpoint(json, 'checkpoint.json')),
  );
const decodeL2O: Decoder = (input) =>
  pipe(
    parseJson(text(input), 'l2o.json'),
    E.chain((json) => decodeCheckpoint(json, 'l2o.json')),
    E.map((ck) => disposeCheckpoint(ck)),
  );
const decodeIdx: Decoder = (input) => parseIdx(input instanceof Uint8Array ? input : Buffer.from(text(input)), 'data.idx');

/** Checks one input: no throw, and a failure is a one-line DecodeError naming the source. */
function typedOutcome(decode: Decoder, input: unknown): boolean {
  let result: E.Either<DecodeError, unknown>;
  try {
    result = decode(input);
  } catch (err) {
    throw new Error(`threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} for ${JSON.stringify(text(input)).slice(0, 200)}`, {
      cause: err,
    });
  }
  if (E.isRight(result)) return true;
  expect(result.left).toBeInstanceOf(DecodeError);
  expect(result.left.message).not.toMatch(/\n/);
  expect(result.left.message).toMatch(/^(config\.json|checkpoint\.json|l2o\.json|data\.idx)[: ]/);
  return false;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path into a JSON value, parents before children. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

/** A copy of `doc` with the value at one of its paths replaced by `replacement`, or deleted. */
function mutate(doc: Json, pick: number, replacement: Json, remove: boolean): Json {
  const all = paths(doc);
  const path = all[pick % all.length]!;
  if (path.length === 0) return replacement;
  const copy = structuredClone(doc);
  let parent: Json = copy;
  for (const key of path.slice(0, -1)) parent = (parent as Record<string | number, Json>)[key]!;
  const last = path.at(-1)!;
  if (remove && Array.isArray(parent)) parent.splice(Number(last), 1);
  else if (remove) delete (parent as Record<string, Json>)[last];
  else (parent as Record<string | number, Json>)[last] = replacement;
  return copy;
}

/** Values that trip decoders: wrong kinds, edges of ranges, odd strings. */
const nasty: fc.Arbitrary<Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.constantFrom<Json>(
    0,
    -1,
    1e308,
    -1e308,
    2 ** 53,
    0.5,
    '',
    'NaN',
    '-0',
    '$tensor',
    [],
    {},
    null,
    true,
    { $tensor: null },
    { $number: 'NaN' },
    { $tensor: { dtype: 'float32', shape: [1e9], data: '' } },
  ),
);

/** Any text: random bytes, random strings, random JSON. */
const anyInput: fc.Arbitrary<Uint8Array | unknown> = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 4 }));

const RUNS = { numRuns: 400, seed: 8, endOnFailure: true };

/** The state the valid checkpoint holds, as the optimizer would initialise it (shapes only matter). */
const templateState = () => ({
  x: tf.zeros([3]),
  step: 0,
  learned: { h: [tf.zeros([3, 2])], c: [tf.zeros([3, 2])] },
  fallback: { t: 0 },
  anchor: null,
  k: 3,
  m: 10,
  lostInRow: 0,
  untilProbe: 0,
});

function validDocuments(): { config: Json; checkpoint: Json; l2o: Json } {
  const config: Json = {
    task: 'quadratic',
    optimizer: { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, fallback: { type: 'sgd', lr: 0.5 }, k: 3 },
    steps: 100,
    seed: 2,
  };
  const x = tf.tensor1d([1.5, -2, 0]);
  const state = {
    x,
    step: 30,
    learned: { h: [tf.zeros([3, 2])], c: [tf.ones([3, 2])] },
    fallback: { t: 30 },
    anchor: null,
    k: 3,
    m: 10,
    lostInRow: 0,
    untilProbe: 0,
  };
  const decoded = decodeWith(RunConfig, config, 'config');
  if (E.isLeft(decoded)) throw decoded.left;
  const checkpoint = JSON.parse(
    encodeRunCheckpoint(
      {
        config: decoded.right,
        settings: DEFAULT_SETTINGS,
        backend: 'wasm',
        step: 30,
        round: 10,
        elapsedMs: 12.5,
        log: { bytes: 100, lines: 10 },
        sampler: { rng: [1, -2, 3, 4], epoch: 0, position: 64, batches: 40 },
        comparisonSampler: { rng: [5, 6, -7, 8], epoch: 1, position: 128, batches: 900 },
        reason: 'interval',
        savedAt: '2025-01-01T00:00:00Z',
        inputs: { config: configHash(decoded.right), l2o: null },
      },
      state,
    ),
  ) as Json;
  disposeAll(state);
  const weights = randomWeights({ ...DEFAULT_ARCHITECTURE, hidden: 2, layers: 1 }, Rng.seeded(4));
  const l2o = encodeCheckpoint({ architecture: { ...DEFAULT_ARCHITECTURE, hidden: 2, layers: 1 }, weights, meta: {} }) as Json;
  disposeWeights(weights);
  return { config, checkpoint, l2o };
}

/** A valid IDX file: uint8, dims [3, 2, 2]. */
const IDX = Uint8Array.from([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2, ...Array.from({ length: 12 }, (_, i) => i)]);

describe('decoders of outside data never throw', () => {
  const docs = validDocuments();
  const cases: [string, Decoder, Json | Uint8Array][] = [
    ['the run config decoder', decodeConfig, docs.config],
    ['the run checkpoint decoder', decodeRun, docs.checkpoint],
    ['the learned-optimizer checkpoint decoder', decodeL2O, docs.l2o],
    ['the IDX decoder', decodeIdx, IDX],
  ];

  for (const [name, decode, valid] of cases) {
    it(`${name}: accepts its valid document (the control case)`, () => {
      expect(typedOutcome(decode, valid)).toBe(true);
    });

    it(`${name}: random bytes, strings and JSON give a value or a DecodeError`, () => {
      fc.assert(
        fc.property(anyInput, (input) => void typedOutcome(decode, input)),
        RUNS,
      );
    });

    if (valid instanceof Uint8Array) {
      it(`${name}: a valid file with bytes changed, cut or extended gives a value or a DecodeError`, () => {
        const edited = fc
          .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat({ max: valid.length + 8 }))
          .map(([edits, length]) => {
            const bytes = new Uint8Array(length);
            bytes.set(valid.subarray(0, Math.min(length, valid.length)));
            for (const [at, b] of edits) if (length > 0) bytes[at % length] = b;
            return bytes;
          });
        fc.assert(
          fc.property(edited, (input) => void typedOutcome(decode, input)),
          RUNS,
        );
      });
    } else {
      it(`${name}: a valid document with one value replaced or deleted gives a value or a DecodeError`, () => {
        let rejected = 0;
        fc.assert(
          fc.property(fc.nat(), nasty, fc.boolean(), (pick, replacement, remove) => {
            if (!typedOutcome(decode, mutate(valid, pick, replacement, remove))) rejected += 1;
          }),
          RUNS,
        );
        // Most mutations break something: the decoders look at every field.
        expect(rejected).toBeGreaterThan(RUNS.numRuns / 2);
      });
    }
  }

  it("the check of a decoded state against the optimizer's own never throws, and what passes it becomes tensors", () => {
    const template = templateState();
    let passed = 0;
    fc.assert(
      fc.property(fc.nat(), nasty, fc.boolean(), (pick, replacement, remove) => {
        const decoded = decodeRun(mutate(docs.checkpoint, pick, replacement, remove));
        if (E.isLeft(decoded)) return;
        const state = (decoded.right as { state: Parameters<typeof stateProblems>[1] }).state;
        const problems = stateProblems(template, state);
        for (const p of problems) expect(p).toMatch(/^state[.[]\S*: [^\n]+$/);
        if (problems.length > 0) return;
        passed += 1;
        const before = tf.memory().numTensors;
        const made = materializeState(state);
        disposeAll(made);
        expect(tf.memory().numTensors).toBe(before);
      }),
      RUNS,
    );
    disposeAll(template);
    expect(passed).toBeGreaterThan(0);
  });
});

/** `levels` arrays nested in one another around `inner`, as JSON text. */
const nested = (levels: number, inner = '0') => `${'['.repeat(levels)}${inner}${']'.repeat(levels)}`;

describe('decoders of outside data against hostile shapes', () => {
  const jsonDecoders: [string, Decoder, string][] = [
    ['the run config decoder', decodeConfig, 'config.json'],
    ['the run checkpoint decoder', decodeRun, 'checkpoint.json'],
    ['the learned-optimizer checkpoint decoder', decodeL2O, 'l2o.json'],
  ];

  it('JSON nested 65 to 100 000 levels deep, anywhere in a document, is a one-line DecodeError (no stack overflow)', () => {
    const depth = fc.oneof(fc.integer({ min: MAX_JSON_DEPTH + 1, max: 200 }), fc.constantFrom(10_000, 100_000));
    const wrap = fc.constantFrom(
      (inner: string) => inner,
      (inner: string) => `{"task": ${inner}}`,
      (inner: string) => `{"optimizer": {"type": "sgd", "lr": ${inner}}}`,
    );
    for (const [, decode, source] of jsonDecoders) {
      fc.assert(
        fc.property(depth, wrap, fc.boolean(), (levels, at, objects) => {
          const inner = objects ? `${'{"a":'.repeat(levels)}0${'}'.repeat(levels)}` : nested(levels);
          const result = decode(at(inner));
          expect(E.isLeft(result) && result.left.message).toMatch(
            new RegExp(`^${source.replace('.', '\\.')}: .*nested more than ${MAX_JSON_DEPTH} levels deep$`),
          );
        }),
        { numRuns: 30, seed: 11 },
      );
    }
    // 64 levels are still read (the decoders then judge the shape); the 65th is named by its path.
    expect(tooDeep(JSON.parse(nested(MAX_JSON_DEPTH)))).toBeUndefined();
    expect(tooDeep(JSON.parse(nested(MAX_JSON_DEPTH + 1)))).toBe('[0]'.repeat(MAX_JSON_DEPTH));
  });

  it('a live record never throws: random text, deep nesting and float32 overflow give a one-line problem', () => {
    const spec = { features: 2, classes: 3 };
    const hostile = fc.oneof(
      fc.string({ maxLength: 100 }),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
      fc.integer({ min: 100, max: 20_000 }).map((n) => `{"x": [1, ${nested(n)}], "y": 0}`),
      fc.integer({ min: 100, max: 20_000 }).map((n) => `{"x": ${nested(n)}, "y": 0}`),
      fc.double({ min: 3.5e38, max: 1e308, noNaN: true }).map((v) => `{"x": [${v}, 0], "y": 1}`),
    );
    fc.assert(
      fc.property(hostile, (line) => {
        const r = decodeRecord(line, spec);
        if (E.isLeft(r)) expect(r.left).not.toMatch(/[\n\r\u2028\u2029]/);
        else expect(r.right.x.every((v) => Number.isFinite(Math.fround(v)))).toBe(true);
      }),
      { numRuns: 300, seed: 12 },
    );
    expect(decodeRecord('{"x": [1e39, 2], "y": 0}', spec)).toEqual(E.left('x[0]: 1e+39 is outside the float32 range (±3.4028e+38)'));
    expect(decodeRecord('{"x": [1, 2], "y": -1e39}', { features: 2 })).toEqual(E.left('y: -1e+39 is outside the float32 range (±3.4028e+38)'));
    // The largest float32 itself, and doubles that round to it, are fine.
    expect(E.isRight(decodeRecord(`{"x": [${FLOAT32_MAX}, -3.4028235e38], "y": 0}`, spec))).toBe(true);
  });

  it('learned-optimizer weights beyond float32 are refused naming the weight and index', () => {
    const docs = validDocuments();
    const l2o = structuredClone(docs.l2o) as { weights: Record<string, { data: number[] }> };
    const [name, w] = Object.entries(l2o.weights)[1]!;
    w.data[3] = -1e39;
    const r = decodeL2O(l2o);
    expect(E.isLeft(r) && r.left.message).toBe(`l2o.json: weights.${name}.data[3]: -1e+39 is not finite as float32 (largest ±3.4028e+38)`);
  });
});

describe('files that never end, or point elsewhere', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lgl2o-fuzz-files-'));
  const endless = existsSync('/dev/zero') ? '/dev/zero' : undefined;

  it.skipIf(endless === undefined)('an endless device, directly or through a symlink, is refused at the size limit', () => {
    const link = join(dir, 'config.json');
    symlinkSync(endless!, link);
    for (const path of [endless!, link]) {
      const r = readTextFile(path, 1 << 20, 'a run config');
      expect(E.isLeft(r) && r.left.message).toBe(`${path}: more than ${1 << 20} bytes, the limit for a run config; is it the right file?`);
    }
  });

  it('--l2o, run checkpoints and run.json have their own limits (sparse files over them, refused unread)', () => {
    const sparse = (name: string, size: number) => {
      const path = join(dir, name);
      writeFileSync(path, '');
      truncateSync(path, size);
      return path;
    };
    const l2oPath = sparse('l2o.json', READ_LIMITS.l2o + 1);
    const l2o = loadCheckpoint(l2oPath);
    expect(E.isLeft(l2o) && l2o.left.message).toBe(
      `${l2oPath}: more than ${READ_LIMITS.l2o} bytes, the limit for a learned-optimizer checkpoint; is it the right file?`,
    );
    const ckPath = sparse('checkpoint.json', READ_LIMITS.run + 1);
    const ck = readRunCheckpoint(ckPath);
    expect(E.isLeft(ck) && ck.left.message).toBe(`${ckPath}: more than ${READ_LIMITS.run} bytes, the limit for a run checkpoint; is it the right file?`);
    const run = mkdtempSync(join(dir, 'run-'));
    writeFileSync(join(run, 'run.json'), '');
    truncateSync(join(run, 'run.json'), READ_LIMITS.config + 1);
    const meta = readRunDir(run);
    expect(E.isLeft(meta) && meta.left.message).toBe(
      `${join(run, 'run.json')}: more than ${READ_LIMITS.config} bytes, the limit for a run record; is it the right file?`,
    );
  });

  it('a regular file over the limit is refused from its size, unread (a sparse 3 GiB IDX file)', () => {
    const path = join(dir, 'sparse-idx3-ubyte');
    writeFileSync(path, '');
    truncateSync(path, 3 * 1024 ** 3);
    const before = process.memoryUsage().rss;
    const r = readIdx(path);
    expect(E.isLeft(r) && r.left.message).toBe(`${path}: more than ${DATA_FILE_LIMIT} bytes, the limit for a data file; is it the right file?`);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('random file sizes around the limit: refused exactly above it, read whole at or below it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 5000 }), (size, limit) => {
        const path = join(dir, 'sized.txt');
        writeFileSync(path, 'a'.repeat(size));
        const r = readTextFile(path, limit, 'a test file');
        expect(E.isRight(r)).toBe(size <= limit);
        if (E.isRight(r)) expect(r.right.length).toBe(size);
      }),
      { numRuns: 100, seed: 13 },
    );
    const missing = readTextFile(join(dir, 'none'), 10, 'x');
    expect(E.isLeft(missing) && missing.left.message).toMatch(/none: cannot read \(ENOENT/);
    const folder = readTextFile(dir, 10, 'x');
    expect(E.isLeft(folder) && folder.left.message).toMatch(/: cannot read \(EISDIR/);
  });

  it('gzip bombs of random shapes stop at the size the IDX header announces', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 8 }), (n, megabytes) => {
        const header = Uint8Array.from([0, 0, 8, 1, 0, 0, 0, n, ...Array.from({ length: n }, (_, i) => i)]);
        const bytes = gzipSync(Buffer.concat([header, Buffer.alloc(megabytes * 1024 * 1024)]));
        const r = maybeGunzip(bytes, 'bomb.gz');
        expect(E.isLeft(r) && r.left.message).toBe(
          `bomb.gz (offsets in the gunzipped data): byte ${8 + n}: the gzip data goes on past the ${8 + n} bytes the IDX header announces; decompression stopped there`,
        );
      }),
      { numRuns: 20, seed: 14 },
    );
  });
});
