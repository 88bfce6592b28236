import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { DecodeError } from '../codec/decode.js';
import { packageRoot } from '../paths.js';

/** The learned optimizers shipped in checkpoints/, by name. */
export const SHIPPED_L2O = {
  /** The paper's 2×20 LSTM meta-trained on mlp-mnist (kept for reproducing the paper; its file name stays). */
  lstm: 'mlp-mnist.json',
  /** The feature-MLP (featureMlp.ts): Adam-normalised momenta at several decays into a small odd MLP. */
  'feature-mlp': 'feature-mlp.json',
  /** The feature-MLP meta-trained for the anchored guard's run (checkpoints/README.md): use it inside LGL2O, not alone. */
  'feature-mlp-guard': 'feature-mlp-guard.json',
} as const;

export type ShippedName = keyof typeof SHIPPED_L2O;
export const SHIPPED_NAMES = Object.keys(SHIPPED_L2O) as ShippedName[];

/** What `default` (and an unset `--l2o` or config `checkpoint`) names. */
export const DEFAULT_L2O: ShippedName = 'feature-mlp';

const isShipped = (name: string): name is ShippedName => Object.hasOwn(SHIPPED_L2O, name);

export const shippedCheckpointPath = (name: ShippedName): string => join(packageRoot(), 'checkpoints', SHIPPED_L2O[name]);

/** The file of the learned optimizer used when none is named. */
export const defaultCheckpointPath = (): string => shippedCheckpointPath(DEFAULT_L2O);

/** A word without a dot or a path separator reads as a name, not as a file. */
const NAME_LIKE = /^[A-Za-z][A-Za-z0-9_-]*$/;

/** The shipped names as an error message or help text lists them. */
export const shippedNamesText = (): string => `${SHIPPED_NAMES.join(', ')}, default (= ${DEFAULT_L2O})`;

/**
 * The checkpoint file a learned-optimizer source names: `default` or a shipped name (`lstm`,
 * `feature-mlp`, `feature-mlp-guard`) its file in checkpoints/, `random:SEED` none (undefined), anything else a path.
 * A name-like source that is neither shipped nor an existing file is an error listing the names.
 */
export function checkpointFileOf(source: string): E.Either<DecodeError, string | undefined> {
  if (source.startsWith('random:')) return E.right(undefined);
  const name = source === 'default' ? DEFAULT_L2O : source;
  if (isShipped(name)) return E.right(shippedCheckpointPath(name));
  if (NAME_LIKE.test(source) && !existsSync(source)) {
    return E.left(new DecodeError(source, [`no such learned optimizer (shipped: ${shippedNamesText()}; or a checkpoint path, or random:SEED)`]));
  }
  return E.right(source);
}
