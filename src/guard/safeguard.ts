import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { assertOptimizer, checkedStep, type AnyOptimizer } from '../optim/optimizer.js';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';
import type { RoundOptimizer, RoundState } from './round.js';

/**
 * How the safeguard's bound μ follows the accepted residuals (Heaton et al. 2020):
 * geometric (GS), arithmetic average (AA), exponential moving average (EMA, the paper's),
 * most recent term (RT), recent max (RM).
 */
export type MuSequence = 'GS' | 'AA' | 'EMA' | 'RT' | 'RM';
export const MU_SEQUENCES: readonly MuSequence[] = ['GS', 'AA', 'EMA', 'RT', 'RM'];

/** The safeguard's defaults ([reconstructed], docs/algorithms.md §5). */
export const SAFEGUARD_DEFAULTS = { delta: 0.05, theta: 0.1, sequence: 'EMA', window: 10 } as const satisfies { sequence: MuSequence } & Record<
  string,
  unknown
>;

export interface SafeguardOptions {
  readonly learned: AnyOptimizer;
  readonly fallback: AnyOptimizer;
  /** Acceptance margin: accept when r ≤ (1 − δ) μ. [reconstructed] default 0.05. */
  readonly delta?: number;
  /** EMA weight of the newest residual. [reconstructed] default 0.1. */
  readonly theta?: number;
  readonly sequence?: MuSequence;
  /** Window of the recent-max sequence. */
  readonly window?: number;
}

export interface SafeguardState extends RoundState {
  readonly learned: StateRecord;
  readonly fallback: StateRecord;
  /** The bound μ; null before the first batch sets μ0 = ‖x0 − T(x0)‖. */
  readonly mu: number | null;
  /** Residuals so far (μ0 and the accepted ones): their count and sum (AA) and the latest (RM). */
  readonly acceptedCount: number;
  readonly acceptedSum: number;
  readonly recent: readonly number[];
}

/** The residual ‖x − T(x)‖ of the fallback operator T at x, with the fallback's current state. */
function residual(fallback: AnyOptimizer, x: tf.Tensor1D, grad: tf.Tensor1D, state: StateRecord): { r: number; next: tf.Tensor1D; state: StateRecord } {
  const [next, s] = checkedStep(fallback, x, grad, state);
  const r = tf.tidy(() => x.sub(next).norm().dataSync()[0]!);
  return { r, next, state: s };
}

/** GL2O: the safeguard of Heaton et al. 2020 around a learned optimizer (docs/algorithms.md §5). */
export function safeguard(options: SafeguardOptions): RoundOptimizer<SafeguardState> {
  assertOptimizer(options?.learned, 'safeguard: options.learned');
  assertOptimizer(options.fallback, 'safeguard: options.fallback');
  const {
    learned,
    fallback,
    delta = SAFEGUARD_DEFAULTS.delta,
    theta = SAFEGUARD_DEFAULTS.theta,
    sequence = SAFEGUARD_DEFAULTS.sequence,
    window = SAFEGUARD_DEFAULTS.window,
  } = options;
  if (!(delta >= 0 && delta < 1)) throw new RangeError(`safeguard: delta must be in [0, 1), got ${delta}`);
  if (!(theta > 0 && theta <= 1)) throw new RangeError(`safeguard: theta must be in (0, 1], got ${theta}`);

  const updateMu = (s: SafeguardState, r: number): Pick<SafeguardState, 'mu' | 'acceptedCount' | 'acceptedSum' | 'recent'> => {
    const mu = s.mu!;
    const acceptedCount = s.acceptedCount + 1;
    const acceptedSum = s.acceptedSum + r;
    const recent = [...s.recent, r].slice(-window);
    const next = {
      GS: (1 - delta) * mu,
      AA: acceptedSum / acceptedCount,
      EMA: theta * r + (1 - theta) * mu,
      RT: r,
      RM: Math.max(...recent),
    }[sequence];
    return { mu: next, acceptedCount, acceptedSum, recent };
  };

  return {
    name: 'gl2o',
    init: (params) => ({
      x: params.clone(),
      step: 0,
      learned: learned.init(params),
      fallback: fallback.init(params),
      mu: null,
      acceptedCount: 0,
      acceptedSum: 0,
      recent: [],
    }),
    batchesNeeded: () => 1,
    round: (objective, s, [batch]) => {
      if (batch === undefined) throw new Error('gl2o: a round needs one batch');
      const atX = objective.lossAndGrad(s.x, batch);
      const loss = atX.loss.dataSync()[0]!;
      atX.loss.dispose();
      if (!Number.isFinite(loss)) {
        atX.grad.dispose();
        return E.left({ kind: 'diverged', step: s.step, message: `gl2o: loss is ${loss} at step ${s.step}` });
      }
      let fallbackFromX: ReturnType<typeof residual> | undefined;
      let proposal: readonly [tf.Tensor1D, StateRecord];
      try {
        fallbackFromX = residual(fallback, s.x, atX.grad, s.fallback);
        proposal = checkedStep(learned, s.x, atX.grad, s.learned);
      } catch (err) {
        // A user's optimizer that throws leaves no tensor of this round behind.
        disposeReplaced(fallbackFromX, s);
        throw err;
      } finally {
        atX.grad.dispose();
      }
      const mu = s.mu ?? fallbackFromX.r;
      const history = s.mu === null ? { acceptedCount: 1, acceptedSum: mu, recent: [mu] } : {};
      const [y, learnedState] = proposal;
      // One extra, sequential gradient: the fallback's residual at the proposal y.
      const atY = objective.lossAndGrad(y, batch);
      atY.loss.dispose();
      const fallbackFromY = residual(fallback, y, atY.grad, s.fallback);
      atY.grad.dispose();
      const r = fallbackFromY.r;
      const accepted = Number.isFinite(r) && r <= (1 - delta) * mu;
      const base = { ...s, ...history, mu, step: s.step + 1, learned: learnedState, fallback: fallbackFromX.state };
      const next: SafeguardState = accepted ? { ...base, x: y, ...updateMu(base, r) } : { ...base, x: fallbackFromX.next };
      disposeReplaced([fallbackFromX, fallbackFromY, y, learnedState], [next, s]);
      return E.right([next, { steps: 1, loss, useL2O: accepted ? 1 : 0, accepted, residual: r, mu }] as const);
    },
  };
}
