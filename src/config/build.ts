import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { erase, type AnyOptimizer } from '../optim/optimizer.js';
import { loadCheckpoint } from '../l2o/weightsFile.js';
import { l2o } from '../l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, randomWeights } from '../l2o/weights.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import { defaultCheckpointPath } from '../paths.js';
import { Rng } from '../tensor/rng.js';
import type { TaskDefaults } from '../tasks/index.js';
import { buildOptimizerWith } from './optimizers.js';
import type { L2OConfig, OptimizerConfig } from './run.js';

// The builder without file access (for browsers) is optimizers.ts.
export { buildHandDesigned } from './optimizers.js';

/**
 * The learned optimizer named by a config: `default` (or unset) is the shipped mlp-mnist
 * checkpoint, `random:SEED` a seeded random LSTM, anything else a checkpoint path.
 */
export function buildLearned(cfg: L2OConfig | undefined): E.Either<Error, AnyOptimizer> {
  const source = cfg?.checkpoint ?? 'default';
  const random = /^random:(\d+)$/.exec(source);
  if (random) return E.right(erase(l2o(randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(Number(random[1]))))));
  const path = source === 'default' ? defaultCheckpointPath() : source;
  return pipe(
    loadCheckpoint(path),
    E.map((ck) => erase(l2o(ck.weights, ck.architecture))),
  );
}

/** Any optimizer config as a round optimizer, with the task's defaults filled in (checkpoints read from files). */
export function buildOptimizer(cfg: OptimizerConfig, d: TaskDefaults): E.Either<Error, RoundOptimizer<RoundState>> {
  return buildOptimizerWith(cfg, d, buildLearned);
}
