import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { adam } from '../optim/adam.js';
import { erase, type AnyOptimizer } from '../optim/optimizer.js';
import { inversePower } from '../optim/schedule.js';
import { DEFAULT_MOMENTUM, momentum, sgd } from '../optim/sgd.js';
import { decodeCheckpoint, resolveCheckpoint } from '../l2o/weightsFile.js';
import { l2o } from '../l2o/lstm.js';
import { lossGuard } from '../guard/lossGuard.js';
import { plain } from '../guard/plain.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import { safeguard } from '../guard/safeguard.js';
import type { TaskDefaults } from '../tasks/index.js';
import { defaultCheckpointPath } from '../paths.js';
import { parseJson } from '../codec/decode.js';
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
export function buildLearned(cfg: L2OConfig | undefined, file?: LearnedFile): E.Either<Error, AnyOptimizer> {
  return pipe(
    file === undefined
      ? resolveCheckpoint(cfg?.checkpoint ?? 'default')
      : pipe(parseJson(file.text, file.source), E.chain((json) => decodeCheckpoint(json, file.source))),
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

const DEFAULT_FALLBACK: HandDesignedConfig = { type: 'sgd' };

/**
 * Any optimizer config as a round optimizer, with the task's defaults filled in; `learned`, when
 * given, is the content of the learned optimizer's checkpoint (instead of reading its path).
 */
export function buildOptimizer(cfg: OptimizerConfig, d: TaskDefaults, learned?: LearnedFile): E.Either<Error, RoundOptimizer<RoundState>> {
  const widen = <S extends RoundState>(o: RoundOptimizer<S>) => o as unknown as RoundOptimizer<RoundState>;
  switch (cfg.type) {
    case 'sgd':
    case 'momentum':
    case 'adam':
      return E.right(widen(plain(buildHandDesigned(cfg, d))));
    case 'l2o':
      return pipe(buildLearned(cfg, learned), E.map((l) => widen(plain(l))));
    case 'gl2o':
      return pipe(
        buildLearned(cfg.learned, learned),
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
        buildLearned(learnedCfg, learned),
        E.chain((learned) => E.tryCatch(() => widen(lossGuard({ ...rest, learned, fallback: buildHandDesigned(fallback ?? DEFAULT_FALLBACK, d) })), E.toError)),
      );
    }
  }
}
