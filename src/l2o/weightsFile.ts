import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { readFileSync } from 'node:fs';
import { DecodeError, boundedNumber, decodeWith, parseJson, strictObject } from '../codec/decode.js';
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
        else if (!w.data.every(Number.isFinite)) problems.push(`weights.${name}: contains a non-finite value`);
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
    E.tryCatch(
      () => readFileSync(path, 'utf8'),
      (err) => new DecodeError(path, [`cannot read (${err instanceof Error ? err.message : String(err)})`]),
    ),
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
  const random = /^random:(\d+)$/.exec(source);
  if (random) return E.right({ architecture: DEFAULT_ARCHITECTURE, weights: randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(Number(random[1]))), meta: { source } });
  return loadCheckpoint(source === 'default' ? defaultCheckpointPath() : source);
}
