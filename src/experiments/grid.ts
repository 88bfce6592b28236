/**
 * The steps at which an experiment's runs evaluate their training loss: a log-spaced grid
 * (for the log step axis and the early steps), the 1-2-5 steps of the tables, an evenly spaced
 * grid (enough points late in training for noise and switching measures) and the horizon.
 * Steps from 100 on are multiples of 10, the loss guard's round length.
 */
export function evalSteps(horizon: number, { first = 10, perDecade = 20, linear = 200 } = {}): number[] {
  if (!Number.isInteger(horizon) || horizon < 1) throw new RangeError(`evalSteps: horizon must be an integer ≥ 1, got ${horizon}`);
  const steps = new Set<number>([horizon]);
  const add = (s: number) => {
    const r = s >= 100 ? Math.round(s / 10) * 10 : Math.round(s);
    if (r >= 1 && r <= horizon) steps.add(r);
  };
  for (let i = 0; first * 10 ** (i / perDecade) <= horizon; i++) add(first * 10 ** (i / perDecade));
  for (let p = 1; p <= horizon; p *= 10) [1, 2, 5].forEach((c) => c * p >= first && add(c * p));
  const raw = Math.max(1, Math.ceil(horizon / linear));
  const stride = raw >= 10 ? Math.ceil(raw / 10) * 10 : raw;
  for (let s = stride; s <= horizon; s += stride) steps.add(s);
  return [...steps].sort((a, b) => a - b);
}
