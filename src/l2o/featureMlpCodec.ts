import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DecodeError, FLOAT32_MAX, boundedNumber, decodeWith, isFloat32Finite, strictShape } from '../codec/decode.js';
import { FEATURE_MLP_WEIGHT_NAMES, featureMlpShapes, type FeatureMlpArchitecture, type FeatureMlpWeights } from './featureMlp.js';
import type { FeatureMlpHandover } from './featureMlpHandover.js';

// The feature-MLP checkpoint: the same envelope as the LSTM's (format, version, architecture,
// weights as {shape, data}, meta), told apart by architecture.kind.

const decay = boundedNumber('decay', 0, 0.999999);
export const FeatureMlpArchitectureCodec = strictShape(
  {
    kind: t.literal('feature-mlp'),
    hidden: boundedNumber('hidden', 1, 1024, true),
    betas: t.array(decay),
    betaV: decay,
    epsilon: boundedNumber('epsilon', 1e-30, 1),
    timescales: t.array(boundedNumber('timescale', 1e-6, 1e12)),
    alpha: boundedNumber('alpha', 1e-12, 1e3),
    logStepBound: boundedNumber('logStepBound', 1e-3, 50),
  },
  { energyDecay: decay, energyTimed: t.boolean },
  'FeatureMlpArchitecture',
);

const TensorCodec = t.type({ shape: t.array(t.number), data: t.array(t.number) }, 'Tensor');

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** The weights of `arch` from a checkpoint's `weights` record (at `path`), every name, shape and value checked. */
export function decodeFeatureMlpWeights(
  arch: FeatureMlpArchitecture,
  raw: unknown,
  source: string,
  path = 'weights',
): E.Either<DecodeError, FeatureMlpWeights> {
  return pipe(
    decodeWith(t.record(t.string, TensorCodec), raw, `${source}: ${path}`),
    E.chain((record) => {
      const shapes = featureMlpShapes(arch);
      const problems: string[] = [];
      if (arch.betas.length === 0) problems.push('architecture.betas: expected at least one decay');
      if (arch.energyTimed === true && arch.energyDecay === undefined)
        problems.push('architecture.energyTimed: needs energyDecay (there is no energy trend to weight)');
      for (const name of FEATURE_MLP_WEIGHT_NAMES) {
        const w = record[name];
        const shape = shapes[name];
        const count = shape.reduce((x, y) => x * y, 1);
        if (w === undefined && count === 0) continue; // a weight this architecture has none of (`ue` without energyDecay)
        if (w === undefined) problems.push(`${path}.${name}: missing (expected shape [${shape}])`);
        else if (!sameShape(w.shape, shape)) problems.push(`${path}.${name}: expected shape [${shape}], got [${w.shape}]`);
        else if (w.data.length !== count) problems.push(`${path}.${name}: expected ${count} values, got ${w.data.length}`);
        else {
          const bad = w.data.findIndex((v) => !isFloat32Finite(v));
          if (bad !== -1) problems.push(`${path}.${name}.data[${bad}]: ${w.data[bad]} is not finite as float32 (largest ±${FLOAT32_MAX.toPrecision(5)})`);
        }
      }
      for (const name of Object.keys(record))
        if (!(FEATURE_MLP_WEIGHT_NAMES as readonly string[]).includes(name)) problems.push(`${path}.${name}: unknown weight for this architecture`);
      if (problems.length > 0) return E.left(new DecodeError(source, problems.slice(0, 5)));
      const out = {} as Record<(typeof FEATURE_MLP_WEIGHT_NAMES)[number], Float32Array>;
      for (const name of FEATURE_MLP_WEIGHT_NAMES) out[name] = Float32Array.from(record[name]?.data ?? []);
      return E.right(out);
    }),
  );
}

const HandoverStepsCodec = t.type({ from: boundedNumber('from', 0, 1e9, true), to: boundedNumber('to', 1, 1e9, true), weights: t.UnknownRecord }, 'Handover');

/** A checkpoint's `handover`: steps from < to and late weights of the same architecture. */
export function decodeFeatureMlpHandover(arch: FeatureMlpArchitecture, raw: unknown, source: string): E.Either<DecodeError, FeatureMlpHandover> {
  return pipe(
    decodeWith(HandoverStepsCodec, raw, `${source}: handover`),
    E.chain(({ from, to, weights }) =>
      to <= from
        ? E.left(new DecodeError(source, [`handover: "to" (${to}) must be after "from" (${from})`]))
        : pipe(
            decodeFeatureMlpWeights(arch, weights, source, 'handover.weights'),
            E.map((w) => ({ from, to, weights: w })),
          ),
    ),
  );
}

export function encodeFeatureMlpWeights(arch: FeatureMlpArchitecture, w: FeatureMlpWeights): Record<string, { shape: number[]; data: number[] }> {
  const shapes = featureMlpShapes(arch);
  const out: Record<string, { shape: number[]; data: number[] }> = {};
  // A weight of no values (`ue` without an energy trend) is left out, so files written before it stay as they were.
  for (const name of FEATURE_MLP_WEIGHT_NAMES) if (w[name].length > 0) out[name] = { shape: shapes[name], data: Array.from(w[name]) };
  return out;
}

/** A whole checkpoint file's JSON (format and version as the LSTM's). */
export function encodeFeatureMlpCheckpoint(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  meta: Record<string, unknown>,
  handover?: FeatureMlpHandover,
): unknown {
  const late = handover && { handover: { from: handover.from, to: handover.to, weights: encodeFeatureMlpWeights(arch, handover.weights) } };
  return { format: 'lgl2o/l2o', version: 1, architecture: arch, weights: encodeFeatureMlpWeights(arch, w), ...late, meta };
}
