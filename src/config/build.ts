import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { erase, type AnyOptimizer } from '../optim/optimizer.js';
import { decodeCheckpoint, resolveCheckpoint } from '../l2o/weightsFile.js';
import { l2o } from '../l2o/lstm.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import type { TaskDefaults } from '../tasks/index.js';
import { defaultCheckpointPath } from '../paths.js';
import { parseJson } from '../codec/decode.js';
import { buildOptimizerWith } from './optimizers.js';
import type { L2OConfig, OptimizerConfig } from './run.js';

// The builder without file access (for browsers) is optimizers.ts.
export { buildHandDesigned } from './optimizers.js';

/**
 * The learned optimizer named by a config: `default` (or unset) is the shipped mlp-mnist
 * checkpoint, `random:SEED` a seeded random LSTM, anything else a checkpoint path.
 */
export function buildLearned(cfg: L2OConfig | undefined, file?: LearnedFile): E.Either<Error, AnyOptimizer> {
  return pipe(
    file === undefined
      ? resolveCheckpoint(cfg?.checkpoint ?? 'default')
      : pipe(
          parseJson(file.text, file.source),
          E.chain((json) => decodeCheckpoint(json, file.source)),
        ),
    E.map((ck) => erase(l2o(ck.weights, ck.architecture))),
  );
}

/** A learned optimizer's checkpoint file as read once by the caller (so a run hashes and copies exactly what it loads). */
export interface LearnedFile {
  readonly text: string;
  /** Where it was read from, for messages. */
  readonly source: string;
}

/** The checkpoint file a config's learned optimizer is loaded from; undefined for `random:SEED` or no learned optimizer. */
export function learnedCheckpointPath(cfg: OptimizerConfig): string | undefined {
  const learned = cfg.type === 'l2o' ? cfg : cfg.type === 'gl2o' || cfg.type === 'lgl2o' ? (cfg.learned ?? { type: 'l2o' as const }) : undefined;
  if (learned === undefined) return undefined;
  const source = learned.checkpoint ?? 'default';
  // random:SEED is no file (a bad SEED is refused, naming it, by resolveCheckpoint).
  if (source.startsWith('random:')) return undefined;
  return source === 'default' ? defaultCheckpointPath() : source;
}

/**
 * Any optimizer config as a round optimizer, with the task's defaults filled in; `learned`, when
 * given, is the content of the learned optimizer's checkpoint (instead of reading its path).
 */
export function buildOptimizer(cfg: OptimizerConfig, d: TaskDefaults, learned?: LearnedFile): E.Either<Error, RoundOptimizer<RoundState>> {
  return buildOptimizerWith(cfg, d, (c) => buildLearned(c, learned));
}
