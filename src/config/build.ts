import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { decodeCheckpoint, resolveCheckpoint } from '../l2o/weightsFile.js';
import { learnedOptimizer } from '../l2o/learned.js';
import { checkpointFileOf } from '../l2o/shipped.js';
import type { DecodeError } from '../codec/decode.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import type { TaskDefaults } from '../tasks/index.js';
import { parseJson } from '../codec/decode.js';
import { buildOptimizerWith } from './optimizers.js';
import type { L2OConfig, OptimizerConfig } from './run.js';

// The builder without file access (for browsers) is optimizers.ts.
export { buildHandDesigned } from './optimizers.js';

/**
 * The learned optimizer named by a config: a shipped name (`lstm`, `feature-mlp`; `default` or
 * unset is l2o/shipped.ts's DEFAULT_L2O), `random:SEED` a seeded random LSTM, anything else a
 * checkpoint path.
 */
export function buildLearned(cfg: L2OConfig | undefined, file?: LearnedFile): E.Either<Error, AnyOptimizer> {
  return pipe(
    file === undefined
      ? resolveCheckpoint(cfg?.checkpoint ?? 'default')
      : pipe(
          parseJson(file.text, file.source),
          E.chain((json) => decodeCheckpoint(json, file.source)),
        ),
    E.map(learnedOptimizer),
  );
}

/** A learned optimizer's checkpoint file as read once by the caller (so a run hashes and copies exactly what it loads). */
export interface LearnedFile {
  readonly text: string;
  /** Where it was read from, for messages. */
  readonly source: string;
}

/**
 * The checkpoint file a config's learned optimizer is loaded from; undefined for `random:SEED` or
 * no learned optimizer; an error for a name that is neither shipped nor a file.
 */
export function learnedCheckpointPath(cfg: OptimizerConfig): E.Either<DecodeError, string | undefined> {
  const learned = cfg.type === 'l2o' ? cfg : cfg.type === 'gl2o' || cfg.type === 'lgl2o' ? (cfg.learned ?? { type: 'l2o' as const }) : undefined;
  if (learned === undefined) return E.right(undefined);
  // random:SEED is no file (a bad SEED is refused, naming it, by resolveCheckpoint).
  return checkpointFileOf(learned.checkpoint ?? 'default');
}

/**
 * Any optimizer config as a round optimizer, with the task's defaults filled in; `learned`, when
 * given, is the content of the learned optimizer's checkpoint (instead of reading its path).
 */
export function buildOptimizer(cfg: OptimizerConfig, d: TaskDefaults, learned?: LearnedFile): E.Either<Error, RoundOptimizer<RoundState>> {
  return buildOptimizerWith(cfg, d, (c) => buildLearned(c, learned));
}
