import * as E from 'fp-ts/lib/Either.js';
import { lossGuard } from '../guard/lossGuard.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { disposeTensorBatch, EMPTY_BATCH, toTensorBatch } from '../optimizee/batch.js';
import { exactQuadratic, type ExactQuadratic } from '../optimizee/quadratic.js';
import { Rng } from '../tensor/rng.js';
import { disposeAll, disposeReplaced } from '../tensor/state.js';

/**
 * Theory mode of ALGORITHMS §4: the loss guard with k = 1 and the exact loss (m = 1 batch
 * that the deterministic quadratic ignores) on f(x) = ½ (x − x*)ᵀ A (x − x*), whose
 * eigenvalues lie in [μ, L] with μ = L / kappa, so f* = 0. With gradient descent of step
 * 1/L as the fallback, whatever the learned optimizer proposes, every step satisfies
 *   descent: f(x_{t+1}) ≤ f(x_t) − ‖∇f(x_t)‖² / (2L)          (Proposition C.1, eq. 2)
 *   rate:    f(x_t) − f* ≤ (1 − μ/L)^t · (f(x_0) − f*)         (eq. 8)
 */
export interface TheoryCase {
  readonly dim: number;
  /** Smoothness: the largest eigenvalue (reached when dim ≥ 2). */
  readonly L: number;
  /** Condition number L/μ ≥ 1. */
  readonly kappa: number;
  /** Seed of the rotation, the minimiser x* and the start x_0. */
  readonly seed: number;
}

export interface TheoryOptions {
  readonly learned: AnyOptimizer;
  /** The fallback for smoothness L; the theorem's is `sgd({ lr: 1 / L })`. */
  readonly fallback: (L: number) => AnyOptimizer;
  /** Guard rounds (= optimizer steps, k = 1) per case. */
  readonly steps: number;
}

export type Claim = 'descent' | 'rate' | 'finite';

/** A step where a claim failed: `lhs ≤ rhs + tolerance` did not hold. */
export interface Violation {
  readonly claim: Claim;
  /** t: the claim about x_{t+1} failed. */
  readonly step: number;
  readonly lhs: number;
  readonly rhs: number;
  readonly tolerance: number;
  readonly message: string;
}

export interface CaseSummary {
  /** Steps checked; fewer than asked once the iterate is within float32 resolution of x*. */
  readonly stepsChecked: number;
  readonly learnedWins: number;
  /** (f(x_T) − f*) / (f(x_0) − f*) at the last checked step, and the rate bound (1 − μ/L)^T. */
  readonly gapRatio: number;
  readonly boundRatio: number;
}

/** Unit roundoff of float32: the guard works in float32, the claims are checked in float64. */
const U32 = 2 ** -24;
/** Multiple of the float32 error estimate allowed before a step counts as a violation. */
export const TOLERANCE_FACTOR = 64;

const norm = (v: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! ** 2;
  return Math.sqrt(s);
};

/**
 * The float32 error of one guard step in f: the candidates are computed, and their losses
 * compared, in float32, so their f can be off by about u·√d·‖∇f‖·(‖x‖ + ‖x*‖) + u·d·f.
 */
export function stepTolerance(q: ExactQuadratic, x: Float32Array, gradNormSq: number, f: number): number {
  const d = q.size;
  return TOLERANCE_FACTOR * U32 * (Math.sqrt(d) * Math.sqrt(gradNormSq) * (norm(x) + norm(q.minimum)) + d * f);
}

/** The quadratic and the start of a case, both from the case's seed. */
export function theoryProblem(c: TheoryCase): { q: ExactQuadratic; rng: Rng } {
  const rng = Rng.seeded(c.seed);
  return { q: exactQuadratic({ dim: c.dim, mu: c.L / c.kappa, L: c.L }, rng), rng };
}

/**
 * Runs the guard in theory mode on one case and checks both claims at every step, in float64
 * on the float32 iterates, with a float32 tolerance (`stepTolerance`). Stops early once that
 * tolerance exceeds half the promised decrease: the claims are then below float32 resolution.
 */
export function checkTheoryCase(c: TheoryCase, opts: TheoryOptions): E.Either<Violation, CaseSummary> {
  const { q, rng } = theoryProblem(c);
  const mu = c.L / c.kappa;
  const guard = lossGuard({ learned: opts.learned, fallback: opts.fallback(c.L), k: 1, m: 1 });
  const batch = toTensorBatch([EMPTY_BATCH]);
  const x0 = q.init(rng);
  let state = guard.init(x0);
  x0.dispose();
  try {
    let x = Float32Array.from(state.x.dataSync());
    const f0 = q.exactLoss(x);
    let f = f0;
    let allowed = f0; // the rate bound with the float32 tolerance of each step added
    let learnedWins = 0;
    let t = 0;
    for (; t < opts.steps; t++) {
      const g2 = q.exactGradNormSq(x);
      const decrease = g2 / (2 * c.L);
      const tol = stepTolerance(q, x, g2, f);
      if (tol > decrease / 2) break;
      const result = guard.round(q, state, [batch, batch]);
      if (E.isLeft(result)) {
        return E.left({ claim: 'finite', step: t, lhs: f, rhs: f, tolerance: tol, message: result.left.message });
      }
      const [next, report] = result.right;
      disposeReplaced(state, next);
      state = next;
      if (report.winner === 'learned') learnedWins += 1;
      x = Float32Array.from(state.x.dataSync());
      const fNext = q.exactLoss(x);
      const show = (v: number) => v.toPrecision(6);
      if (!(fNext <= f - decrease + tol)) {
        return E.left({
          claim: 'descent',
          step: t,
          lhs: fNext,
          rhs: f - decrease,
          tolerance: tol,
          message: `f(x_${t + 1}) = ${show(fNext)} > f(x_${t}) − ‖∇f(x_${t})‖²/(2L) = ${show(f)} − ${show(decrease)} (winner: ${report.winner})`,
        });
      }
      allowed = (1 - mu / c.L) * allowed + tol;
      if (!(fNext <= allowed)) {
        const bound = (1 - mu / c.L) ** (t + 1) * f0;
        return E.left({
          claim: 'rate',
          step: t,
          lhs: fNext,
          rhs: bound,
          tolerance: allowed - bound,
          message: `f(x_${t + 1}) − f* = ${show(fNext)} > (1 − μ/L)^${t + 1} (f(x_0) − f*) = ${show(bound)}`,
        });
      }
      f = fNext;
    }
    return E.right({ stepsChecked: t, learnedWins, gapRatio: f0 > 0 ? f / f0 : 0, boundRatio: (1 - mu / c.L) ** t });
  } finally {
    disposeAll(state);
    disposeTensorBatch(batch);
    q.dispose();
  }
}
