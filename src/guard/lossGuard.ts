import * as E from 'fp-ts/lib/Either.js';
import { assertOptimizer, resetState, type AnyOptimizer } from '../optim/optimizer.js';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';
import { decide, overlaps, type DecisionRule, type Threshold } from './decide.js';
import { rollout, type Point } from './rollout.js';
import { batchLosses, mean, type RoundOptimizer, type RoundState, type Winner } from './round.js';

/** What happens to the unchosen optimizer's state after a round ([reconstructed]: keep). */
export type StatePolicy = 'keep' | 'reset';

export interface AdaptiveOptions {
  /** Factor by which k and m grow (keeping k/m) when the candidates' mean ± sd overlap. */
  readonly growth: number;
  /** Upper limit for k; m is limited in proportion. */
  readonly maxK: number;
  /** Shrink k and m back towards their initial values when the candidates separate. */
  readonly shrink: boolean;
}

export interface LossGuardOptions {
  readonly learned: AnyOptimizer;
  readonly fallback: AnyOptimizer;
  /** Steps per rollout (paper: 10). */
  readonly k?: number;
  /** Fresh comparison batches per round (paper: 10). */
  readonly m?: number;
  /** docs/algorithms.md §4b: also run the fallback's own trajectory from x0 and let it win. */
  readonly anchor?: boolean;
  readonly decision?: DecisionRule;
  /** Level of the paired one-sided t test (default 0.05). */
  readonly alpha?: number;
  /** A fixed threshold of the paired test in standard errors; overrides `alpha`. */
  readonly z?: number;
  readonly statePolicy?: StatePolicy;
  /** The paper's proposed adaptive k and m (§4, Appendix H); off by default. */
  readonly adaptive?: AdaptiveOptions;
  /**
   * Probing with back-off: after r lost rounds in a row, run the learned rollout only every
   * 2^min(r, backoff) rounds. Off (undefined) by default.
   */
  readonly backoff?: number;
}

export interface LossGuardState extends RoundState {
  readonly learned: StateRecord;
  readonly fallback: StateRecord;
  readonly anchor: Point | null;
  readonly k: number;
  readonly m: number;
  /** Rounds the learned optimizer has lost in a row, and rounds left until it is probed. */
  readonly lostInRow: number;
  readonly untilProbe: number;
}

/** The loss guard's defaults (the paper's k = m = 10), the one place the CLI, configs and experiments take them from. */
export const LOSS_GUARD_DEFAULTS = { k: 10, m: 10, alpha: 0.05, decision: 'strict', statePolicy: 'keep', adaptiveGrowth: 2, adaptiveMaxK: 1000 } as const;
export const DEFAULT_K = LOSS_GUARD_DEFAULTS.k;
export const DEFAULT_M = LOSS_GUARD_DEFAULTS.m;

function checkOptions(o: LossGuardOptions): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('lossGuard: expected options { learned, fallback, ... }');
  assertOptimizer(o.learned, 'lossGuard: options.learned');
  assertOptimizer(o.fallback, 'lossGuard: options.fallback');
  const positiveInt = (v: number | undefined, name: string) => {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new RangeError(`lossGuard: ${name} must be an integer ≥ 1, got ${v}`);
  };
  positiveInt(o.k, 'k');
  positiveInt(o.m, 'm');
  if (o.z !== undefined && !(o.z >= 0)) throw new RangeError(`lossGuard: z must be ≥ 0, got ${o.z}`);
  if (o.alpha !== undefined && !(o.alpha > 0 && o.alpha < 1)) throw new RangeError(`lossGuard: alpha must be in (0, 1), got ${o.alpha}`);
  if (o.adaptive && !(o.adaptive.growth > 1)) throw new RangeError(`lossGuard: adaptive.growth must be > 1, got ${o.adaptive.growth}`);
  if (o.backoff !== undefined && (!Number.isInteger(o.backoff) || o.backoff < 0)) {
    throw new RangeError(`lossGuard: backoff must be an integer ≥ 0, got ${o.backoff}`);
  }
}

/** LGL2O (docs/algorithms.md §4) and its anchored extension (§4b), as a round optimizer. */
export function lossGuard(options: LossGuardOptions): RoundOptimizer<LossGuardState> {
  checkOptions(options);
  const {
    learned,
    fallback,
    anchor = false,
    decision = LOSS_GUARD_DEFAULTS.decision,
    statePolicy = LOSS_GUARD_DEFAULTS.statePolicy,
    adaptive,
    backoff,
  } = options;
  const threshold: Threshold = options.z !== undefined ? { z: options.z } : { alpha: options.alpha ?? LOSS_GUARD_DEFAULTS.alpha };
  const k0 = options.k ?? DEFAULT_K;
  const m0 = options.m ?? DEFAULT_M;
  const name = anchor ? 'lgl2o-anchor' : 'lgl2o';

  const nextKM = (s: LossGuardState, l: readonly number[] | null, g: readonly number[]): [number, number] => {
    if (!adaptive || l === null) return [s.k, s.m];
    if (overlaps(l, g)) {
      const k = Math.min(adaptive.maxK, Math.round(s.k * adaptive.growth));
      return [k, Math.max(1, Math.round((k * m0) / k0))];
    }
    if (!adaptive.shrink) return [s.k, s.m];
    const k = Math.max(k0, Math.round(s.k / adaptive.growth));
    return [k, Math.max(m0, Math.round((k * m0) / k0))];
  };

  return {
    name,
    init: (params) => ({
      x: params.clone(),
      step: 0,
      learned: learned.init(params),
      fallback: fallback.init(params),
      anchor: anchor ? { x: params.clone(), opt: fallback.init(params) } : null,
      k: k0,
      m: m0,
      lostInRow: 0,
      untilProbe: 0,
    }),
    batchesNeeded: (s) => s.k + s.m,
    comparisonBatches: (s) => s.m,
    round: (objective, s, batches) => {
      if (batches.length !== s.k + s.m) throw new Error(`${name}: a round needs k + m = ${s.k + s.m} batches, got ${batches.length}`);
      const train = batches.slice(0, s.k);
      const compare = batches.slice(s.k);
      const probe = s.untilProbe === 0;
      const start = (opt: StateRecord): Point => ({ x: s.x, opt });
      // Rollouts done so far are freed if a later one throws (a user's optimizer).
      const done: Point[] = [];
      const run = (opt: AnyOptimizer, from: Point): Point => {
        try {
          const p = rollout(objective, opt, from, train);
          done.push(p);
          return p;
        } catch (err) {
          disposeReplaced(done, s);
          throw err;
        }
      };
      const cand = {
        learned: probe ? run(learned, start(s.learned)) : null,
        fallback: run(fallback, start(s.fallback)),
        anchor: s.anchor ? run(fallback, s.anchor) : null,
      };
      const losses = {
        learned: cand.learned ? batchLosses(objective, cand.learned.x, compare) : null,
        fallback: batchLosses(objective, cand.fallback.x, compare),
        anchor: cand.anchor ? batchLosses(objective, cand.anchor.x, compare) : null,
      };
      const verdict = decide(losses, decision, threshold);
      if (verdict.kind === 'diverged') {
        disposeReplaced(cand, s);
        return E.left({ kind: 'diverged', step: s.step, message: `${name}: ${verdict.message} at step ${s.step + s.k}` });
      }
      const winner: Winner = verdict.winner;
      const chosen = cand[winner]!;
      const keepOrReset = (opt: AnyOptimizer, own: StateRecord, isWinner: boolean) =>
        isWinner || statePolicy === 'keep' ? own : resetState(opt, chosen.x, own);
      const [k, m] = nextKM(s, losses.learned, losses.fallback);
      const learnedFinite = losses.learned !== null && Number.isFinite(mean(losses.learned));
      const learnedWon = winner === 'learned';
      const lostInRow = !probe ? s.lostInRow : learnedWon ? 0 : s.lostInRow + 1;
      const next: LossGuardState = {
        x: chosen.x,
        step: s.step + s.k,
        // A rollout that went non-finite leaves a state that can never recover (NaN in an
        // LSTM's cells stays NaN): it restarts from the chosen point whatever the policy.
        learned: !cand.learned
          ? s.learned
          : learnedFinite
            ? keepOrReset(learned, cand.learned.opt, learnedWon)
            : resetState(learned, chosen.x, cand.learned.opt),
        fallback: keepOrReset(fallback, cand.fallback.opt, winner === 'fallback'),
        anchor: cand.anchor,
        k,
        m,
        lostInRow,
        untilProbe: backoff === undefined ? 0 : probe ? (learnedWon ? 0 : 2 ** Math.min(lostInRow, backoff) - 1) : s.untilProbe - 1,
      };
      disposeReplaced(cand, [next, s]);
      const lossOf = (xs: readonly number[] | null) => (xs === null ? undefined : mean(xs));
      return E.right([
        next,
        {
          steps: s.k,
          loss: lossOf(losses[winner])!,
          ...(losses.learned ? { l2oLoss: lossOf(losses.learned)! } : {}),
          fallbackLoss: lossOf(losses.fallback)!,
          ...(losses.anchor ? { anchorLoss: lossOf(losses.anchor)! } : {}),
          useL2O: learnedWon ? 1 : 0,
          winner,
          ...(verdict.reason ? { reason: verdict.reason } : {}),
          k: s.k,
          m: s.m,
          probed: probe,
        },
      ] as const);
    },
  };
}
