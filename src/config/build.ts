import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { adam } from '../optim/adam.js';
import { erase, type AnyOptimizer } from '../optim/optimizer.js';
import { inversePower } from '../optim/schedule.js';
import { DEFAULT_MOMENTUM, momentum, sgd } from '../optim/sgd.js';
import { resolveCheckpoint } from '../l2o/weightsFile.js';
import { l2o } from '../l2o/lstm.js';
import { lossGuard } from '../guard/lossGuard.js';
import { plain } from '../guard/plain.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import { safeguard } from '../guard/safeguard.js';
import type { TaskDefaults } from '../tasks/index.js';
import type { HandDesignedConfig, L2OConfig, OptimizerConfig } from './run.js';

export function buildHandDesigned(cfg: HandDesignedConfig, d: TaskDefaults): AnyOptimizer {
  switch (cfg.type) {
    case 'sgd':
      return erase(sgd({ lr: inversePower(cfg.lr ?? d.sgd.lr, cfg.tau ?? d.sgd.tau, cfg.power ?? d.sgd.power) }));
    case 'momentum':
      return erase(momentum({ lr: inversePower(cfg.lr ?? d.sgd.lr, cfg.tau ?? d.sgd.tau, cfg.power ?? d.sgd.power), beta: cfg.beta ?? DEFAULT_MOMENTUM }));
    case 'adam':
      return erase(adam({ lr: cfg.lr ?? d.adamLr }));
  }
}

/**
 * The learned optimizer named by a config: `default` (or unset) is the shipped mlp-mnist
 * checkpoint, `random:SEED` a seeded random LSTM, anything else a checkpoint path.
 */
export function buildLearned(cfg: L2OConfig | undefined): E.Either<Error, AnyOptimizer> {
  return pipe(
    resolveCheckpoint(cfg?.checkpoint ?? 'default'),
    E.map((ck) => erase(l2o(ck.weights, ck.architecture))),
  );
}

const DEFAULT_FALLBACK: HandDesignedConfig = { type: 'sgd' };

/** Any optimizer config as a round optimizer, with the task's defaults filled in. */
export function buildOptimizer(cfg: OptimizerConfig, d: TaskDefaults): E.Either<Error, RoundOptimizer<RoundState>> {
  const widen = <S extends RoundState>(o: RoundOptimizer<S>) => o as unknown as RoundOptimizer<RoundState>;
  switch (cfg.type) {
    case 'sgd':
    case 'momentum':
    case 'adam':
      return E.right(widen(plain(buildHandDesigned(cfg, d))));
    case 'l2o':
      return pipe(buildLearned(cfg), E.map((l) => widen(plain(l))));
    case 'gl2o':
      return pipe(
        buildLearned(cfg.learned),
        E.chain((learned) =>
          E.tryCatch(
            () =>
              widen(
                safeguard({
                  learned,
                  fallback: buildHandDesigned(cfg.fallback ?? DEFAULT_FALLBACK, d),
                  ...(cfg.delta !== undefined ? { delta: cfg.delta } : {}),
                  ...(cfg.theta !== undefined ? { theta: cfg.theta } : {}),
                  ...(cfg.sequence !== undefined ? { sequence: cfg.sequence } : {}),
                }),
              ),
            E.toError,
          ),
        ),
      );
    case 'lgl2o': {
      const { type: _type, learned: learnedCfg, fallback, ...rest } = cfg;
      return pipe(
        buildLearned(learnedCfg),
        E.chain((learned) => E.tryCatch(() => widen(lossGuard({ ...rest, learned, fallback: buildHandDesigned(fallback ?? DEFAULT_FALLBACK, d) })), E.toError)),
      );
    }
  }
}
