import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { DecodeError, parseJson } from '../codec/decode.js';
import { READ_LIMITS, readTextFile } from '../codec/readText.js';
import { Rng } from '../tensor/rng.js';
import { checkpointFileOf } from './shipped.js';
import { decodeCheckpoint, isFeatureMlpCheckpoint, type FeatureMlpCheckpoint, type L2OCheckpoint, type LstmCheckpoint } from './weightsCodec.js';
import { DEFAULT_ARCHITECTURE, randomWeights } from './weights.js';

// The format itself lives in weightsCodec.ts (no file access, for browsers); re-exported for Node callers.
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  decodeCheckpoint,
  disposeCheckpoint,
  encodeCheckpoint,
  isFeatureMlpCheckpoint,
  type FeatureMlpCheckpoint,
  type L2OCheckpoint,
  type LstmCheckpoint,
} from './weightsCodec.js';

/** Reads and decodes a checkpoint file (in Node; a web page fetches the JSON and decodes it with `decodeCheckpoint`). */
export function loadCheckpoint(path: string): E.Either<DecodeError, L2OCheckpoint> {
  return pipe(
    readTextFile(path, READ_LIMITS.l2o, 'a learned-optimizer checkpoint'),
    E.chain((text) => parseJson(text, path)),
    E.chain((json) => decodeCheckpoint(json, path)),
  );
}

/**
 * The learned optimizer a source names: a shipped name (`lstm`, `feature-mlp`, `default`; see
 * shipped.ts), `random:SEED` a seeded random LSTM, anything else a checkpoint path.
 */
export function resolveCheckpoint(source: string): E.Either<DecodeError, L2OCheckpoint> {
  if (source.startsWith('random:')) {
    const seed = source.slice('random:'.length);
    if (!/^\d+$/.test(seed) || Number(seed) > 2 ** 32 - 1) {
      return E.left(new DecodeError(source, [`bad seed "${seed}" (expected random:SEED, SEED an integer in [0, 4294967295])`]));
    }
    return E.right({ architecture: DEFAULT_ARCHITECTURE, weights: randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(Number(seed))), meta: { source } });
  }
  return pipe(
    checkpointFileOf(source),
    E.chain((path) => (path === undefined ? E.left(new DecodeError(source, ['names no checkpoint file'])) : loadCheckpoint(path))),
  );
}

/** An LSTM checkpoint file (meta-training's), or an error naming the file when it holds another architecture. */
export function loadLstmCheckpoint(path: string): E.Either<DecodeError, LstmCheckpoint> {
  return pipe(
    loadCheckpoint(path),
    E.chain((ck) =>
      isFeatureMlpCheckpoint(ck)
        ? E.left(
            new DecodeError(path, [
              `architecture.kind: a ${ck.architecture.kind} checkpoint, expected the LSTM's (meta-train trains the LSTM; the feature-MLP is meta-trained by scripts/meta-train-feature-mlp.ts)`,
            ]),
          )
        : E.right(ck),
    ),
  );
}

/** A feature-MLP checkpoint file, or an error naming the file when it holds the LSTM. */
export function loadFeatureMlpCheckpoint(path: string): E.Either<DecodeError, FeatureMlpCheckpoint> {
  return pipe(
    loadCheckpoint(path),
    E.chain((ck) =>
      isFeatureMlpCheckpoint(ck) ? E.right(ck) : E.left(new DecodeError(path, ['architecture: an LSTM checkpoint, expected a feature-MLP one'])),
    ),
  );
}
