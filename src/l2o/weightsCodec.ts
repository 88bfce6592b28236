import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DecodeError, FLOAT32_MAX, boundedNumber, decodeWith, isFloat32Finite, strictObject } from '../codec/decode.js';
import type { FeatureMlpArchitecture, FeatureMlpWeights } from './featureMlp.js';
import { FeatureMlpArchitectureCodec, decodeFeatureMlpHandover, decodeFeatureMlpWeights, encodeFeatureMlpCheckpoint } from './featureMlpCodec.js';
import type { FeatureMlpHandover } from './featureMlpHandover.js';
import { weightShapes, flattenWeights, unflattenWeights, type L2OArchitecture, type L2OWeights } from './weights.js';

// The checkpoint format without file access (for browsers: the web demo fetches the JSON); weightsFile.ts reads files.

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

/** The LSTM's architecture has no `kind`; any other architecture names its kind. */
const hasKind = (u: unknown): boolean => typeof u === 'object' && u !== null && !Array.isArray(u) && Object.hasOwn(u, 'kind');

const AnyArchitectureCodec = new t.Type<L2OArchitecture | FeatureMlpArchitecture, unknown, unknown>(
  'Architecture',
  (u): u is L2OArchitecture | FeatureMlpArchitecture => (hasKind(u) ? FeatureMlpArchitectureCodec.is(u) : ArchitectureCodec.is(u)),
  (u, c) => (hasKind(u) ? FeatureMlpArchitectureCodec.validate(u, c) : ArchitectureCodec.validate(u, c)),
  t.identity,
);

const TensorCodec = t.type({ shape: t.array(t.number), data: t.array(t.number) }, 'Tensor');

const CheckpointCodec = t.intersection([
  t.type({
    format: t.literal(CHECKPOINT_FORMAT),
    version: t.number,
    architecture: AnyArchitectureCodec,
    weights: t.record(t.string, TensorCodec),
  }),
  t.partial({ meta: t.UnknownRecord, handover: t.unknown }),
]);

/** The LSTM learned optimizer's weights with its architecture and free-form provenance. */
export interface LstmCheckpoint {
  readonly architecture: L2OArchitecture;
  readonly weights: L2OWeights;
  readonly meta: Record<string, unknown>;
}

/** The feature-MLP learned optimizer's weights (plain arrays, nothing to dispose) with its architecture and provenance. */
export interface FeatureMlpCheckpoint {
  readonly architecture: FeatureMlpArchitecture;
  readonly weights: FeatureMlpWeights;
  /** Late weights it hands over to as its clock runs (featureMlpHandover.ts); none: the same weights throughout. */
  readonly handover?: FeatureMlpHandover;
  readonly meta: Record<string, unknown>;
}

/** A learned optimizer's checkpoint of either architecture, told apart by `architecture.kind` (the LSTM's has none). */
export type L2OCheckpoint = LstmCheckpoint | FeatureMlpCheckpoint;

export const isFeatureMlpCheckpoint = (ck: L2OCheckpoint): ck is FeatureMlpCheckpoint => 'kind' in ck.architecture && ck.architecture.kind === 'feature-mlp';

/** Frees the checkpoint's weight tensors (the LSTM's; the feature-MLP's are plain arrays). */
export function disposeCheckpoint(ck: L2OCheckpoint): void {
  if (!isFeatureMlpCheckpoint(ck)) for (const w of flattenWeights(ck.weights)) w.dispose();
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
      const meta = raw.meta ?? {};
      const arch = raw.architecture;
      if ('kind' in arch) {
        return pipe(
          decodeFeatureMlpWeights(arch, raw.weights, source),
          E.chain((weights) =>
            raw.handover === undefined
              ? E.right<DecodeError, L2OCheckpoint>({ architecture: arch, weights, meta })
              : pipe(
                  decodeFeatureMlpHandover(arch, raw.handover, source),
                  E.map((handover): L2OCheckpoint => ({ architecture: arch, weights, handover, meta })),
                ),
          ),
        );
      }
      if (raw.handover !== undefined) return E.left(new DecodeError(source, ['handover: only a feature-MLP checkpoint hands over to other weights']));
      const problems: string[] = [];
      const expected = weightShapes(arch);
      for (const { name, shape } of expected) {
        const w = raw.weights[name];
        if (w === undefined) problems.push(`weights.${name}: missing (expected shape [${shape}])`);
        else if (!sameShape(w.shape, shape)) problems.push(`weights.${name}: expected shape [${shape}], got [${w.shape}]`);
        else if (w.data.length !== shape.reduce((a, b) => a * b, 1))
          problems.push(`weights.${name}: expected ${shape.reduce((a, b) => a * b, 1)} values, got ${w.data.length}`);
        else {
          const bad = w.data.findIndex((v) => !isFloat32Finite(v));
          if (bad !== -1) problems.push(`weights.${name}.data[${bad}]: ${w.data[bad]} is not finite as float32 (largest ±${FLOAT32_MAX.toPrecision(5)})`);
        }
      }
      const known = new Set(expected.map((e) => e.name));
      for (const name of Object.keys(raw.weights)) if (!known.has(name)) problems.push(`weights.${name}: unknown weight for this architecture`);
      if (problems.length > 0) return E.left(new DecodeError(source, problems.slice(0, 5)));
      const list = expected.map(({ name, shape }) => tf.tensor(raw.weights[name]!.data, shape));
      return E.right({ architecture: arch, weights: unflattenWeights(arch, list), meta });
    }),
  );
}

/** The checkpoint as JSON-ready data (weights rounded to float32, which they are). */
export function encodeCheckpoint(ck: L2OCheckpoint): unknown {
  if (isFeatureMlpCheckpoint(ck)) return encodeFeatureMlpCheckpoint(ck.architecture, ck.weights, ck.meta, ck.handover);
  const names = weightShapes(ck.architecture);
  const weights: Record<string, { shape: number[]; data: number[] }> = {};
  flattenWeights(ck.weights).forEach((tensor, i) => {
    weights[names[i]!.name] = { shape: tensor.shape, data: Array.from(tensor.dataSync()) };
  });
  return { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, architecture: ck.architecture, weights, meta: ck.meta };
}
