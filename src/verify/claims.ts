/**
 * Which claims of theory mode (docs/algorithms.md §4) hold for which fallback. `descent` and
 * `rate` are theorems for gradient descent with step exactly 1/L as the fallback: a smaller
 * step promises less decrease (η(1 − η/2)‖∇f‖²/L < ‖∇f‖²/(2L) for η < 1) and a larger one, or
 * momentum or Adam, none. `guard` holds for any fallback: every round keeps a point no worse
 * than the fallback's own step, from a learned proposal that is finite and deterministic.
 */
export const CHECKABLE_CLAIMS = ['descent', 'rate', 'guard'] as const;
export type CheckedClaim = (typeof CHECKABLE_CLAIMS)[number];

export type FallbackName = 'sgd' | 'momentum' | 'adam';

export interface ClaimChoice {
  readonly claims: readonly CheckedClaim[];
  /** Why these: one line for a report. */
  readonly why: string;
}

/** The claims that hold for a fallback with a constant step `lrScale / L`. */
export function claimsFor(fallback: FallbackName, lrScale: number): ClaimChoice {
  if (fallback === 'sgd' && lrScale === 1) return { claims: CHECKABLE_CLAIMS, why: 'all three hold for sgd with step 1/L (docs/algorithms.md §4)' };
  return { claims: ['guard'], why: 'descent and rate need sgd with step 1/L (docs/algorithms.md §4)' };
}

/** A comma-separated list of claims (`descent,rate,guard`), or the one-line reason it is not one. */
export function parseClaims(text: string): readonly CheckedClaim[] | string {
  const names = text.split(',').map((s) => s.trim());
  const unknown = names.filter((n) => !(CHECKABLE_CLAIMS as readonly string[]).includes(n));
  if (text.trim() === '' || unknown.length > 0) {
    return `expected a comma-separated list of ${CHECKABLE_CLAIMS.join(', ')}, got "${text}"`;
  }
  return CHECKABLE_CLAIMS.filter((c) => names.includes(c));
}
