import * as E from 'fp-ts/lib/Either.js';
import { lossGuard } from '../guard/lossGuard.js';
import type { RoundOptimizer } from '../guard/round.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { disposeTensorBatch, EMPTY_BATCH, toTensorBatch } from '../optimizee/tensorBatch.js';
import { exactQuadratic, type ExactQuadratic } from '../optimizee/quadratic.js';
import { Rng } from '../tensor/rng.js';
import { disposeAll, disposeReplaced } from '../tensor/state.js';
import { CHECKABLE_CLAIMS, type CheckedClaim } from './claims.js';
import { replayCandidates, type GuardView } from './guardClaim.js';
import { guardTolerance, informative, nextRateBound, stepTolerance, type ErrorScale } from './tolerance.js';

/**
 * Theory mode of docs/algorithms.md §4: the loss guard with k = 1 and the exact loss (m = 1 batch
 * that the deterministic quadratic ignores) on f(x) = ½ (x − x*)ᵀ A (x − x*), eigenvalues in
 * [μ, L], μ = L / kappa, f* = 0. With gradient descent of step 1/L as the fallback, whatever
 * the learned optimizer proposes, every step satisfies
 *   descent: f(x_{t+1}) ≤ f(x_t) − ‖∇f(x_t)‖² / (2L)          (Proposition C.1, eq. 2)
 *   rate:    f(x_t) − f* ≤ (1 − μ/L)^t · (f(x_0) − f*)         (eq. 8)
 * and with any fallback (claims.ts, guardClaim.ts)
 *   guard:   f(x_{t+1}) ≤ f(y_t), y_t the fallback's step from x_t, and the learned step is
 *            finite and deterministic
 * and the run stays finite (`finite`, always checked).
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
  /** The claims checked every step (default: all, which hold for `sgd({ lr: 1 / L })`; claims.ts chooses per fallback). */
  readonly claims?: readonly CheckedClaim[];
  /** The guard under test (default: the loss guard with k = m = 1); tests hand in broken ones. */
  readonly guard?: (learned: AnyOptimizer, fallback: AnyOptimizer) => RoundOptimizer<GuardView>;
}

export type Claim = CheckedClaim | 'finite';

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
  /** Steps whose promised decrease is well above float32 resolution (the others only check rounding). */
  readonly informativeSteps: number;
  /** Rounds in which the guard kept the learned optimizer's point. */
  readonly learnedWins: number;
  /** (f(x_T) − f*) / (f(x_0) − f*), and the rate bound (1 − μ/L)^T. */
  readonly gapRatio: number;
  readonly boundRatio: number;
}

const show = (v: number) => v.toPrecision(6);

/** A step that kept both claims: the rate bound β_{t+1}, and the descent claim as checked (lhs ≤ rhs + tolerance). */
export interface StepHeld {
  readonly beta: number;
  readonly lhs: number;
  readonly rhs: number;
  readonly tolerance: number;
}

/**
 * Both claims for one step x_t → x_{t+1}, each within the float32 tolerance of tolerance.ts,
 * from f(x_t), ‖∇f(x_t)‖², f(x_{t+1}) (float64) and the rate bound β_t of x_t (β_0 = f(x_0)):
 * gives β_{t+1} or the violated claim.
 */
export function checkStep(p: ErrorScale, t: number, f: number, gradNormSq: number, fNext: number, beta: number): E.Either<Violation, StepHeld> {
  const descent = checkDescent(p, t, f, gradNormSq, fNext);
  if (E.isLeft(descent)) return descent;
  const nextBeta = nextRateBound(p, beta);
  const rate = checkRate(t, fNext, nextBeta);
  if (E.isLeft(rate)) return rate;
  return E.right({ beta: nextBeta, lhs: fNext, rhs: descent.right.rhs, tolerance: descent.right.tolerance });
}

/** The descent claim for x_t → x_{t+1}: gives the checked bound and tolerance, or the violation. */
function checkDescent(p: ErrorScale, t: number, f: number, gradNormSq: number, fNext: number): E.Either<Violation, { rhs: number; tolerance: number }> {
  const bound = f - gradNormSq / (2 * p.L);
  const tol = stepTolerance(p, f);
  if (fNext <= bound + tol) return E.right({ rhs: bound, tolerance: tol });
  const message = `f(x_${t + 1}) = ${show(fNext)} > f(x_${t}) − ‖∇f(x_${t})‖²/(2L) = ${show(f)} − ${show(gradNormSq / (2 * p.L))}`;
  return E.left({ claim: 'descent', step: t, lhs: fNext, rhs: bound, tolerance: tol, message });
}

/** The rate claim for x_{t+1} against its bound β_{t+1} (`nextRateBound`). */
function checkRate(t: number, fNext: number, nextBeta: number): E.Either<Violation, void> {
  if (fNext <= nextBeta) return E.right(undefined);
  const message = `f(x_${t + 1}) − f* = ${show(fNext)} > (1 − μ/L)^${t + 1} (f(x_0) − f*) with float32 tolerances = ${show(nextBeta)}`;
  return E.left({ claim: 'rate', step: t, lhs: fNext, rhs: nextBeta, tolerance: 0, message });
}

/** The guard claim's comparison for x_{t+1} against the fallback's candidate y_t (both float64 losses). */
function checkNoWorse(p: ErrorScale, t: number, fNext: number, fFallback: number): E.Either<Violation, void> {
  const tol = guardTolerance(p, fNext, fFallback);
  if (fNext <= fFallback + tol) return E.right(undefined);
  const message = `f(x_${t + 1}) = ${show(fNext)} > f(y_${t}) = ${show(fFallback)}, y_${t} the fallback's step from x_${t}`;
  return E.left({ claim: 'guard', step: t, lhs: fNext, rhs: fFallback, tolerance: tol, message });
}

const defaultGuard = (learned: AnyOptimizer, fallback: AnyOptimizer): RoundOptimizer<GuardView> => lossGuard({ learned, fallback, k: 1, m: 1 });

const norm = (v: ArrayLike<number>): number => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

/** The quadratic of a case and the generator that then draws its start, both from the case's seed. */
export function theoryProblem(c: TheoryCase): { q: ExactQuadratic; rng: Rng; scale: ErrorScale } {
  const rng = Rng.seeded(c.seed);
  const q = exactQuadratic({ dim: c.dim, mu: c.L / c.kappa, L: c.L }, rng);
  return { q, rng, scale: { dim: c.dim, L: c.L, kappa: c.kappa, minimumNorm: norm(q.minimum) } };
}

/** Runs the guard in theory mode on one case, checking the chosen claims at every step. */
export function checkTheoryCase(c: TheoryCase, opts: TheoryOptions): E.Either<Violation, CaseSummary> {
  const { q, rng, scale } = theoryProblem(c);
  const want = new Set(opts.claims ?? CHECKABLE_CLAIMS);
  const fallback = opts.fallback(c.L);
  const guard = (opts.guard ?? defaultGuard)(opts.learned, fallback);
  const batch = toTensorBatch([EMPTY_BATCH]);
  const x0 = q.init(rng);
  let state = guard.init(x0);
  x0.dispose();
  const fail = (claim: Claim, step: number, message: string): E.Either<Violation, never> => E.left({ claim, step, lhs: NaN, rhs: NaN, tolerance: 0, message });
  try {
    let x = Float32Array.from(state.x.dataSync());
    const f0 = q.exactLoss(x);
    let f = f0;
    let beta = f0;
    let learnedWins = 0;
    let informativeSteps = 0;
    for (let t = 0; t < opts.steps; t++) {
      const g2 = q.exactGradNormSq(x);
      const yFallback = want.has('guard') ? replayCandidates(q, opts.learned, fallback, state, batch, t) : E.right(x);
      if (E.isLeft(yFallback)) return fail('guard', t, yFallback.left);
      const result = guard.round(
        q,
        state,
        Array.from({ length: guard.batchesNeeded(state) }, () => batch),
      );
      if (E.isLeft(result)) return E.left({ claim: 'finite', step: t, lhs: f, rhs: f, tolerance: 0, message: result.left.message });
      const [next, report] = result.right;
      disposeReplaced(state, next);
      state = next;
      x = Float32Array.from(state.x.dataSync());
      const fNext = q.exactLoss(x);
      const kept = ` (kept: ${report.winner ?? 'unknown'})`;
      if (!Number.isFinite(fNext)) return fail('finite', t, `f(x_${t + 1}) = ${fNext}${kept}`);
      beta = nextRateBound(scale, beta);
      const checks: Array<() => E.Either<Violation, unknown>> = [
        ...(want.has('descent') ? [() => checkDescent(scale, t, f, g2, fNext)] : []),
        ...(want.has('rate') ? [() => checkRate(t, fNext, beta)] : []),
        ...(want.has('guard') ? [() => checkNoWorse(scale, t, fNext, q.exactLoss(yFallback.right))] : []),
      ];
      for (const check of checks) {
        const checked = check();
        if (E.isLeft(checked)) return E.left({ ...checked.left, message: `${checked.left.message}${kept}` });
      }
      if (informative(scale, f, g2)) informativeSteps += 1;
      if (report.winner === 'learned') learnedWins += 1;
      f = fNext;
    }
    return E.right({ informativeSteps, learnedWins, gapRatio: f0 > 0 ? f / f0 : 0, boundRatio: (1 - 1 / c.kappa) ** opts.steps });
  } finally {
    disposeAll(state);
    disposeTensorBatch(batch);
    q.dispose();
  }
}
