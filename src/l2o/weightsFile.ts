import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DecodeError, FLOAT32_MAX, boundedNumber, decodeWith, isFloat32Finite, parseJson, strictObject } from '../codec/decode.js';
import { READ_LIMITS, readTextFile } from '../codec/readText.js';
import { defaultCheckpointPath } from '../paths.js';
import { Rng } from '../tensor/rng.js';
import { DEFAULT_ARCHITECTURE, randomWeights, weightShapes, flattenWeights, unflattenWeights, type L2OArchitecture, type L2OWeights } from './weights.js';

export const CHECKPOINT_FORMAT = 'lgl2o/l2o';
export const CHECKPOINT_VERSION = 1;

const ArchitectureCodec = strictObject(
  {
    hidden: boundedNumber('hidden', 1, 4096, true),
    layers: boundedNumber('layers', 1, 16, true),
    preprocP: boundedNumber('preprocP', 0.001, 100),
    outScale: boundedNumber('outScale', 0, 1e6),
  },
  'Architecture',
);

const TensorCodec = t.type({ shape: t.array(t.number), data: t.array(t.number) }, 'Tensor');

const CheckpointCodec = t.intersection([
  t.type({
    format: t.literal(CHECKPOINT_FORMAT),
    version: t.number,
    architecture: ArchitectureCodec,
    weights: t.record(t.string, TensorCodec),
  }),
  t.partial({ meta: t.UnknownRecord }),
]);

/** A learned optimizer's weights with the architecture they belong to and free-form provenance. */
export interface L2OCheckpoint {
  readonly architecture: L2OArchitecture;
  readonly weights: L2OWeights;
  readonly meta: Record<string, unknown>;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Decodes a checkpoint from parsed JSON, checking version and every weight's shape. */
export function decodeCheckpoint(json: unknown, source: string): E.Either<DecodeError, L2OCheckpoint> {
  return pipe(
    decodeWith(CheckpointCodec, json, source),
    E.chain((raw) => {
      if (raw.version !== CHECKPOINT_VERSION) {
        return E.left(new DecodeError(source, [`version: expected ${CHECKPOINT_VERSION}, got ${raw.version}`]));
      }
      const problems: string[] = [];
      const expected = weightShapes(raw.architecture);
      for (const { name, shape } of expected) {
        const w = raw.weights[name];
        if (w === undefined) problems.push(`weights.${name}: missing (expected shape [${shape}])`);
        else if (!sameShape(w.shape, shape)) problems.push(`weights.${name}: expected shape [${shape}], got [${w.shape}]`);
        else if (w.data.length !== shape.reduce((a, b) => a * b, 1)) problems.push(`weights.${name}: expected ${shape.reduce((a, b) => a * b, 1)} values, got ${w.data.length}`);
        else {
          const bad = w.data.findIndex((v) => !isFloat32Finite(v));
          if (bad !== -1) problems.push(`weights.${name}.data[${bad}]: ${w.data[bad]} is not finite as float32 (largest ±${FLOAT32_MAX.toPrecision(5)})`);
        }
      }
      const known = new Set(expected.map((e) => e.name));
      for (const name of Object.keys(raw.weights)) if (!known.has(name)) problems.push(`weights.${name}: unknown weight for this architecture`);
      if (problems.length > 0) return E.left(new DecodeError(source, problems.slice(0, 5)));
      const list = expected.map(({ name, shape }) => tf.tensor(raw.weights[name]!.data, shape));
      return E.right({ architecture: raw.architecture, weights: unflattenWeights(raw.architecture, list), meta: raw.meta ?? {} });
    }),
  );
}

/** Reads and decodes a checkpoint file. */
export function loadCheckpoint(path: string): E.Either<DecodeError, L2OCheckpoint> {
  return pipe(
    readTextFile(path, READ_LIMITS.l2o, 'a learned-optimizer checkpoint'),
    E.chain((text) => parseJson(text, path)),
    E.chain((json) => decodeCheckpoint(json, path)),
  );
}

/** The checkpoint as JSON-ready data (weights rounded to float32, which they are). */
export function encodeCheckpoint(ck: L2OCheckpoint): unknown {
  const names = weightShapes(ck.architecture);
  const weights: Record<string, { shape: number[]; data: number[] }> = {};
  flattenWeights(ck.weights).forEach((tensor, i) => {
    weights[names[i]!.name] = { shape: tensor.shape, data: Array.from(tensor.dataSync()) };
  });
  return { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, architecture: ck.architecture, weights, meta: ck.meta };
}

/**
 * The learned optimizer a source names: `default` is the shipped mlp-mnist checkpoint,
 * `random:SEED` a seeded random LSTM, anything else a checkpoint path.
 */
export function resolveCheckpoint(source: string): E.Either<DecodeError, L2OCheckpoint> {
  if (source.startsWith('random:')) {
    const seed = source.slice('random:'.length);
    if (!/^\d+$/.test(seed) || Number(seed) > 2 ** 32 - 1) {
      return E.left(new DecodeError(source, [`bad seed "${seed}" (expected random:SEED, SEED an integer in [0, 4294967295])`]));
    }
    return E.right({ architecture: DEFAULT_ARCHITECTURE, weights: randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(Number(seed))), meta: { source } });
  }
  return loadCheckpoint(source === 'default' ? defaultCheckpointPath() : source);
}
