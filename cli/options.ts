import { InvalidArgumentError } from '@commander-js/extra-typings';
import { shippedNamesText } from '../src/l2o/shipped.js';

/** Commander argument parsers whose errors name what was wrong; commander adds the flag. */
export function integerAtLeast(min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^[+-]?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer, got "${value}"`);
    if (n < min) throw new InvalidArgumentError(`must be ≥ ${min}, got ${n}`);
    return n;
  };
}

export function numberIn(min: number, max: number, { exclusiveMin = false } = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${value}"`);
    if (exclusiveMin ? n <= min : n < min) throw new InvalidArgumentError(`must be ${exclusiveMin ? '>' : '≥'} ${min}, got ${n}`);
    if (n > max) throw new InvalidArgumentError(`must be ≤ ${max}, got ${n}`);
    return n;
  };
}

export const positiveNumber = numberIn(0, Number.MAX_VALUE, { exclusiveMin: true });

/** The help of every `--l2o` flag. */
export const L2O_HELP = `learned optimizer: a shipped name (${shippedNamesText()}), a checkpoint path or "random:SEED"`;
