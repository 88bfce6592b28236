/**
 * A schedule's rate at step t, checked: a user's schedule that returns 0, a negative number or
 * NaN would otherwise stall or wreck the run without a word.
 */
export function rateAt(schedule: Schedule, t: number, where: string): number {
  const lr = schedule(t);
  if (!(typeof lr === 'number' && Number.isFinite(lr) && lr > 0))
    throw new RangeError(`${where}: the learning rate at step ${t} must be a positive number, got ${lr}`);
  return lr;
}

/** A learning rate as a function of the optimizer's step counter t = 0, 1, 2, ... */
export type Schedule = (t: number) => number;

export const constant = (lr: number): Schedule => {
  validateLearningRate(lr, 'constant');
  return () => lr;
};

/** The schedule's default power p. */
export const DEFAULT_POWER = 1.5;

/**
 * η_t = η_0 (1 + t/τ)^(−1/p). With p > 1 (default 1.5) it meets Robbins–Monro:
 * Σ η_t = ∞ and Σ η_t² < ∞ (docs/algorithms.md §1, [reconstructed] reading of the paper's "power 1.5").
 */
export const inversePower = (eta0: number, tau: number, power = DEFAULT_POWER): Schedule => {
  validateLearningRate(eta0, 'inversePower');
  if (!(Number.isFinite(tau) && tau > 0)) throw new RangeError(`inversePower: tau must be a positive number, got ${tau}`);
  if (!(Number.isFinite(power) && power > 0)) throw new RangeError(`inversePower: power must be a positive number, got ${power}`);
  return (t) => eta0 * Math.pow(1 + t / tau, -1 / power);
};

/** A learning rate must be a positive finite number: 0, negative, NaN or Infinity is a RangeError naming `where`. */
export function validateLearningRate(lr: number, where: string): void {
  if (!Number.isFinite(lr) || lr <= 0) throw new RangeError(`${where}: learning rate must be a positive number, got ${lr}`);
}

/** A number is checked now; a schedule's rate at every step (`rateAt`). */
export function asSchedule(lr: number | Schedule, where: string): Schedule {
  if (typeof lr === 'number') {
    validateLearningRate(lr, where);
    return constant(lr);
  }
  if (typeof lr !== 'function') throw new TypeError(`${where}: lr must be a number or a schedule (t) => number, got ${typeof lr}`);
  return (t) => rateAt(lr, t, where);
}
