import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { describe, expect, it } from 'vitest';
import { decodeRunCheckpoint, encodeRunCheckpoint } from '../src/runs/checkpoint.js';
import { DEFAULT_SETTINGS } from '../src/runs/settings.js';
import { DecodeError, decodeWith, parseJson } from '../src/codec/decode.js';
import { RunConfig } from '../src/config/run.js';
import { parseIdx } from '../src/data/idx.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/l2o/weightsFile.js';
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
    E.map((ck) => disposeWeights(ck.weights)),
  );
const decodeIdx: Decoder = (input) => parseIdx(input instanceof Uint8Array ? input : Buffer.from(text(input)), 'data.idx');

/** Checks one input: no throw, and a failure is a one-line DecodeError naming the source. */
function typedOutcome(decode: Decoder, input: unknown): boolean {
  let result: E.Either<DecodeError, unknown>;
  try {
    result = decode(input);
  } catch (err) {
    throw new Error(`threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)} for ${JSON.stringify(text(input)).slice(0, 200)}`, { cause: err });
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
  fc.constantFrom<Json>(0, -1, 1e308, -1e308, 2 ** 53, 0.5, '', 'NaN', '-0', '$tensor', [], {}, null, true, { $tensor: null }, { $number: 'NaN' }, { $tensor: { dtype: 'float32', shape: [1e9], data: '' } }),
);

/** Any text: random bytes, random strings, random JSON. */
const anyInput: fc.Arbitrary<Uint8Array | unknown> = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }), fc.jsonValue({ maxDepth: 4 }));

const RUNS = { numRuns: 400, seed: 8, endOnFailure: true };

/** The state the valid checkpoint holds, as the optimizer would initialise it (shapes only matter). */
const templateState = () => ({ x: tf.zeros([3]), step: 0, learned: { h: [tf.zeros([3, 2])], c: [tf.zeros([3, 2])] }, fallback: { t: 0 }, anchor: null, k: 3, m: 10, lostInRow: 0, untilProbe: 0 });

function validDocuments(): { config: Json; checkpoint: Json; l2o: Json } {
  const config: Json = { task: 'quadratic', optimizer: { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, fallback: { type: 'sgd', lr: 0.5 }, k: 3 }, steps: 100, seed: 2 };
  const x = tf.tensor1d([1.5, -2, 0]);
  const state = { x, step: 30, learned: { h: [tf.zeros([3, 2])], c: [tf.ones([3, 2])] }, fallback: { t: 30 }, anchor: null, k: 3, m: 10, lostInRow: 0, untilProbe: 0 };
  const decoded = decodeWith(RunConfig, config, 'config');
  if (E.isLeft(decoded)) throw decoded.left;
  const checkpoint = JSON.parse(
    encodeRunCheckpoint(
      { config: decoded.right, settings: DEFAULT_SETTINGS, backend: 'wasm', step: 30, round: 10, elapsedMs: 12.5, log: { bytes: 100, lines: 10 }, sampler: { rng: [1, -2, 3, 4], epoch: 0, position: 64, batches: 40 },
        comparisonSampler: { rng: [5, 6, -7, 8], epoch: 1, position: 128, batches: 900 },
        reason: 'interval', savedAt: '2025-01-01T00:00:00Z' },
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
      fc.assert(fc.property(anyInput, (input) => void typedOutcome(decode, input)), RUNS);
    });

    if (valid instanceof Uint8Array) {
      it(`${name}: a valid file with bytes changed, cut or extended gives a value or a DecodeError`, () => {
        const edited = fc.tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }), fc.nat({ max: valid.length + 8 })).map(([edits, length]) => {
          const bytes = new Uint8Array(length);
          bytes.set(valid.subarray(0, Math.min(length, valid.length)));
          for (const [at, b] of edits) if (length > 0) bytes[at % length] = b;
          return bytes;
        });
        fc.assert(fc.property(edited, (input) => void typedOutcome(decode, input)), RUNS);
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

  it('the check of a decoded state against the optimizer\'s own never throws, and what passes it becomes tensors', () => {
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
