/** A learning rate as a function of the optimizer's step counter t = 0, 1, 2, ... */
export type Schedule = (t: number) => number;

export const constant =
  (lr: number): Schedule =>
  () =>
    lr;

/** The schedule's default power p. */
export const DEFAULT_POWER = 1.5;

/**
 * η_t = η_0 (1 + t/τ)^(−1/p). With p > 1 (default 1.5) it meets Robbins–Monro:
 * Σ η_t = ∞ and Σ η_t² < ∞ (docs/algorithms.md §1, [reconstructed] reading of the paper's "power 1.5").
 */
export const inversePower =
  (eta0: number, tau: number, power = DEFAULT_POWER): Schedule =>
  (t) =>
    eta0 * Math.pow(1 + t / tau, -1 / power);
