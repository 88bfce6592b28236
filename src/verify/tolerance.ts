/**
 * The float32 error model of theory mode: why the claims of docs/algorithms.md §4 need a tolerance,
 * and how large it is. Shared by `lgl2o verify` (theory.ts) and property-tests/, which
 * measures it (property-tests/tolerance.test.ts; largest errors seen in property-tests/README.md).
 *
 * The claims are exact statements about f; the guard works in float32. It decides on the
 * tfjs loss f̃(y) = ½ fl(y − x*₃₂)ᵀ fl(A₃₂ fl(y − x*₃₂)), while the claims are checked on the
 * float64 f(y) = ½ (y − x*)ᵀ A (y − x*) of the same float32 point (`exactLoss`). Error
 * sources, with e = y − x*:
 *   - A₃₂ = fl(A) and cancellation in the mat-vec: about u·L‖e‖². Relative to f this is u·κ
 *     on the flattest direction (f = ½μ‖e‖² there): the error scales with L, the loss with μ.
 *   - the length-d sums of the two dot products: about u·√d·eᵀAe = u·√d·2f (random-walk
 *     growth of the rounding errors; it dominates when κ is small and d large).
 *   - x*₃₂ = fl(x*) and the subtraction y − x*₃₂: about u·‖Ae‖·(‖x*‖ + ‖y‖), which dominates
 *     near x*, where f is at float32 resolution.
 * One unit at y is u·(L‖e‖² + 2√d·f + ‖Ae‖(‖x*‖ + ‖y‖)); tolerance.test.ts checks
 * |f̃ − f| ≤ 1.5 units on random points. Any candidate that can win has f(y) ≲ f(x_t) =: f,
 * so L‖e‖² ≤ 2κf, ‖Ae‖ ≤ √(2Lf) and ‖y‖ ≤ ‖x*‖ + √(2f/μ), which bounds the unit by
 * `lossErrorUnit`. A wrong decision costs at most the errors of the two losses compared; the
 * fallback's own float32 step x − fl(g/L) moves f by about one more unit (its rounding times
 * ‖∇f‖ ≤ √(2Lf)). The tolerance is STEP_TOLERANCE units. For κ = 1e3 it is still about half
 * the promised decrease ‖∇f‖²/(2L) ≥ f/κ, so the claim keeps its teeth: a guard that keeps a
 * point slightly above the bound fails.
 */

/** What the error model needs to know of a problem. */
export interface ErrorScale {
  readonly dim: number;
  /** Smoothness: the largest eigenvalue of A. */
  readonly L: number;
  /** Condition number L/μ. */
  readonly kappa: number;
  /** ‖x*‖. */
  readonly minimumNorm: number;
}

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

export const STEP_TOLERANCE = 4;

/** u·[2(κ + √κ + √d)·f + 2√(2Lf)·‖x*‖]: the float32 error scale of f at points with loss ≤ f. */
export function lossErrorUnit(p: ErrorScale, f: number): number {
  const fPos = Math.max(f, 0);
  return U32 * (2 * (p.kappa + Math.sqrt(p.kappa) + Math.sqrt(p.dim)) * fPos + 2 * Math.sqrt(2 * p.L * fPos) * p.minimumNorm);
}

export const stepTolerance = (p: ErrorScale, f: number): number => STEP_TOLERANCE * lossErrorUnit(p, f);

/**
 * Tolerance of the guard claim f(x_{t+1}) ≤ f(y_G), y_G the fallback's candidate: the guard
 * ranked the two float32 points by their float32 losses, so a wrong ranking costs at most the
 * errors of the two losses, 1.5 units each at loss ≤ max(f(x_{t+1}), f(y_G)). The candidate is
 * replayed exactly (guardClaim.ts), so no step rounding enters.
 */
export const guardTolerance = (p: ErrorScale, fKept: number, fFallback: number): number => stepTolerance(p, Math.max(fKept, fFallback));

/**
 * The linear-rate bound with each step's tolerance carried along: β₀ = f(x0),
 * β_{t+1} = (1 − μ/L)·β_t + tol(β_t). It follows from the descent lemma with tolerance and
 * ‖∇f‖² ≥ 2μ f; without the tolerance it is (1 − μ/L)^t f(x0) (eq. 8).
 */
export const nextRateBound = (p: ErrorScale, beta: number): number => (1 - 1 / p.kappa) * beta + stepTolerance(p, beta);

/** Whether a step's promised decrease ‖∇f‖²/(2L) is well above its float32 tolerance (else it only checks rounding). */
export const informative = (p: ErrorScale, f: number, gradNormSq: number): boolean => gradNormSq / (2 * p.L) > 4 * stepTolerance(p, f);

/**
 * GL2O's residual r(y) = ‖y − T(y)‖ = ‖∇f(y)‖/L as the guard computes it in float32: the
 * gradient A₃₂ fl(y − x*₃₂) is off by about u·L·(‖e‖ + ‖x*‖ + ‖y‖) with ‖e‖ ≤ κ·r(y), plus the
 * length-d sums (u·√d·r); the difference y − fl(y − g/L) adds u·(‖y‖ + r). One unit:
 * u·((κ + √d)·r + ‖x*‖ + ‖y‖); tolerance.test.ts checks |r̃ − r| ≤ 2 units.
 */
export function residualErrorUnit(p: ErrorScale, r: number, yNorm: number): number {
  return U32 * ((p.kappa + Math.sqrt(p.dim)) * r + p.minimumNorm + yNorm);
}

export const RESIDUAL_TOLERANCE = 8;

/**
 * Distance one float32 fallback step may put between the anchor run and the float64 gradient-
 * descent trajectory with the same A₃₂ and x*₃₂: rounding of x − x*₃₂, of the mat-vec
 * (length d) and of x − g/L, about u·(‖x‖ + √d·‖x − x*‖) per step. Gradient descent with
 * step 1/L is non-expansive, so these add up over the steps and do not grow.
 */
export function driftPerStep(p: ErrorScale, xNorm: number, errNorm: number): number {
  return 4 * U32 * (xNorm + Math.sqrt(p.dim) * errNorm);
}
