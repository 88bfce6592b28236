import { Rng } from '../tensor/rng.js';
import type { Dataset, Splits } from './dataset.js';

export interface SplitCounts {
  readonly train: number;
  readonly validation: number;
  readonly test: number;
}

export const SYNTHETIC_COUNTS: SplitCounts = { train: 10_000, validation: 2_000, test: 2_000 };

export interface CirclesOptions {
  /** Radius of the inner circle relative to the outer one (scikit-learn's `factor`). */
  readonly factor?: number;
  /** Standard deviation of the Gaussian noise added to each coordinate. */
  readonly noise?: number;
}

export interface SpiralsOptions {
  /** Standard deviation of the Gaussian noise added to each coordinate. */
  readonly noise?: number;
  /** How many full turns each arm makes. */
  readonly turns?: number;
}

export const CIRCLES_DEFAULTS = { factor: 0.8, noise: 0.05 } as const;
export const SPIRALS_DEFAULTS = { noise: 0.05, turns: 2 } as const;

/**
 * scikit-learn's `make_circles`: ⌊n/2⌋ points evenly spaced on the unit circle (class 0),
 * the rest evenly spaced on the circle of radius `factor` (class 1), shuffled, then N(0, noise²)
 * added to each coordinate.
 */
export function circles(
  count: number,
  { factor = CIRCLES_DEFAULTS.factor, noise = CIRCLES_DEFAULTS.noise }: CirclesOptions,
  rng: Rng,
  name = 'circles',
): Dataset {
  if (!(factor > 0 && factor < 1)) throw new RangeError(`circles: factor must be in (0, 1), got ${factor}`);
  const outer = Math.floor(count / 2);
  const points = (n: number, radius: number, label: number) =>
    Array.from({ length: n }, (_, i) => [radius * Math.cos((2 * Math.PI * i) / n), radius * Math.sin((2 * Math.PI * i) / n), label] as const);
  const all = [...points(outer, 1, 0), ...points(count - outer, factor, 1)];
  return fill(name, all, rng.permutation(count), noise, rng);
}

/**
 * Two interleaved spirals, one per class [reconstructed: the paper gives no formula]: for
 * t = √u, u ~ U(0, 1), class 0 is t·(cos θ, sin θ) with θ = 2π·turns·t, class 1 the same
 * arm turned by π; then N(0, noise²) added to each coordinate. Classes alternate, so they are
 * balanced; √u spreads points evenly along the arm.
 */
export function spirals(
  count: number,
  { noise = SPIRALS_DEFAULTS.noise, turns = SPIRALS_DEFAULTS.turns }: SpiralsOptions,
  rng: Rng,
  name = 'spirals',
): Dataset {
  const all = Array.from({ length: count }, (_, i) => {
    const label = i % 2;
    const t = Math.sqrt(rng.uniform());
    const theta = 2 * Math.PI * turns * t + Math.PI * label;
    return [t * Math.cos(theta), t * Math.sin(theta), label] as const;
  });
  return fill(
    name,
    all,
    Int32Array.from({ length: count }, (_, i) => i),
    noise,
    rng,
  );
}

function fill(name: string, points: readonly (readonly [number, number, number])[], order: Int32Array, noise: number, rng: Rng): Dataset {
  if (!(noise >= 0 && Number.isFinite(noise))) throw new RangeError(`${name}: noise must be a finite number ≥ 0, got ${noise}`);
  const x = new Float32Array(points.length * 2);
  const y = new Int32Array(points.length);
  for (const [i, j] of order.entries()) {
    const [a, b, label] = points[j]!;
    x[2 * i] = a + (noise > 0 ? noise * rng.normal() : 0);
    x[2 * i + 1] = b + (noise > 0 ? noise * rng.normal() : 0);
    y[i] = label;
  }
  return { name, x, y, shape: [2], count: points.length, classes: 2 };
}

/** Train, validation and test sets drawn from independent generators forked from `seed`. */
export function syntheticSplits(
  make: (count: number, rng: Rng, name: string) => Dataset,
  name: string,
  seed: number,
  counts: SplitCounts = SYNTHETIC_COUNTS,
): Splits {
  const rng = Rng.seeded(seed);
  const [a, b, c] = [rng.fork(), rng.fork(), rng.fork()];
  return {
    train: make(counts.train, a, `${name}/train`),
    validation: make(counts.validation, b, `${name}/validation`),
    test: make(counts.test, c, `${name}/test`),
  };
}

/** The generated classification datasets by name, as `loadDataset` makes them from a seed (browser-safe). */
export const GENERATED = {
  circles: (count: number, noise: number | undefined, rng: Rng, name: string) => circles(count, { noise }, rng, name),
  spirals: (count: number, noise: number | undefined, rng: Rng, name: string) => spirals(count, { noise }, rng, name),
} as const;

export function generatedSplits(name: keyof typeof GENERATED, seed: number, noise?: number): Splits {
  return syntheticSplits((n, rng, split) => GENERATED[name](n, noise, rng, split), name, seed);
}
