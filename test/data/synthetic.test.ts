import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { loadDataset } from '../../src/data/index.js';
import { circles, spirals, syntheticSplits } from '../../src/data/synthetic.js';
import { Rng } from '../../src/tensor/rng.js';

const radius = (x: Float32Array, i: number) => Math.hypot(x[2 * i]!, x[2 * i + 1]!);
const meanStd = (xs: readonly number[]) => {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return [mean, Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length)] as const;
};

describe('circles (scikit-learn make_circles)', () => {
  it('without noise: ⌊n/2⌋ points evenly spaced on the unit circle (class 0), the rest on radius 0.8 (class 1), shuffled', () => {
    const ds = circles(101, { noise: 0 }, Rng.seeded(1));
    expect(ds.shape).toEqual([2]);
    const angles: number[][] = [[], []];
    for (let i = 0; i < 101; i++) {
      expect(radius(ds.x, i)).toBeCloseTo(ds.y[i] === 0 ? 1 : 0.8, 6);
      angles[ds.y[i]!]!.push((Math.atan2(ds.x[2 * i + 1]!, ds.x[2 * i]!) + 2 * Math.PI) % (2 * Math.PI));
    }
    expect(angles[0]!.length).toBe(50);
    expect(angles[1]!.length).toBe(51);
    // np.linspace(0, 2π, n, endpoint=False): the k-th smallest angle is 2πk/n
    for (const [label, n] of [
      [0, 50],
      [1, 51],
    ] as const) {
      const sorted = [...angles[label]!].sort((a, b) => a - b);
      // angle 0 may come back as ≈2π after float32 rounding of sin(2π·0/n) = 0: it is exact here
      sorted.forEach((a, k) => expect(a).toBeCloseTo((2 * Math.PI * k) / n, 5));
    }
    expect(Array.from(ds.y.subarray(0, 50)).every((y) => y === 0)).toBe(false);
  });

  it('adds N(0, noise²) to each coordinate: the difference to the noiseless draw of the same seed', () => {
    const noisy = circles(20_000, { noise: 0.1, factor: 0.5 }, Rng.seeded(2));
    const clean = circles(20_000, { noise: 0, factor: 0.5 }, Rng.seeded(2));
    expect(Array.from(clean.y)).toEqual(Array.from(noisy.y));
    const diff = Array.from(noisy.x, (v, i) => v - clean.x[i]!);
    const [mean, std] = meanStd(diff);
    expect(Math.abs(mean)).toBeLessThan(0.003); // 4 standard errors of 0.1/√40000
    expect(std).toBeGreaterThan(0.098);
    expect(std).toBeLessThan(0.102);
  });
});

describe('spirals', () => {
  it('without noise: class 0 lies on θ = 2π·2·r, class 1 on the same arm turned by π; classes alternate', () => {
    const ds = spirals(2001, { noise: 0 }, Rng.seeded(3));
    let zeros = 0;
    for (let i = 0; i < ds.count; i++) {
      const x = ds.x[2 * i]!;
      const y = ds.x[2 * i + 1]!;
      const r = Math.hypot(x, y);
      expect(r).toBeLessThanOrEqual(1);
      const expected = 4 * Math.PI * r + Math.PI * ds.y[i]!;
      const off = Math.atan2(y, x) - expected;
      const wrapped = Math.atan2(Math.sin(off), Math.cos(off));
      expect(Math.abs(wrapped) * r).toBeLessThan(1e-5);
      if (ds.y[i] === 0) zeros += 1;
    }
    expect(zeros).toBe(1001);
  });

  it('adds N(0, noise²) to each coordinate', () => {
    const clean = spirals(20_000, { noise: 0 }, Rng.seeded(4));
    const noisy = spirals(20_000, { noise: 0.2 }, Rng.seeded(4));
    const [mean, std] = meanStd(Array.from(noisy.x, (v, i) => v - clean.x[i]!));
    expect(Math.abs(mean)).toBeLessThan(0.006);
    expect(std).toBeGreaterThan(0.196);
    expect(std).toBeLessThan(0.204);
  });
});

describe('synthetic splits and the registry', () => {
  it('draws train, validation and test from independent generators of one seed, the same each time', () => {
    const make = (n: number, rng: Rng, name: string) => spirals(n, {}, rng, name);
    const a = syntheticSplits(make, 'spirals', 9, { train: 100, validation: 50, test: 50 });
    const b = syntheticSplits(make, 'spirals', 9, { train: 100, validation: 50, test: 50 });
    expect(Array.from(a.train.x)).toEqual(Array.from(b.train.x));
    expect(Array.from(a.test.x)).toEqual(Array.from(b.test.x));
    expect(Array.from(a.validation!.x.subarray(0, 50))).not.toEqual(Array.from(a.test.x.subarray(0, 50)));
    expect(a.test.name).toBe('spirals/test');
  });

  it('loads circles, spirals and quadratic by name with their shapes and classes', () => {
    const c = loadDataset('circles', { seed: 1, noise: 0 });
    if (E.isLeft(c)) throw c.left;
    expect([c.right.shape, c.right.classes, c.right.train.count, c.right.validation?.count, c.right.test.count]).toEqual([[2], 2, 10_000, 2_000, 2_000]);
    for (let i = 0; i < 100; i++) expect(radius(c.right.train.x, i)).toBeCloseTo(c.right.train.y[i] === 0 ? 1 : 0.8, 6);
    const s = loadDataset('spirals', { seed: 1 });
    expect(E.isRight(s) && [s.right.shape, s.right.classes]).toEqual([[2], 2]);
    const q = loadDataset('quadratic', { seed: 1 });
    if (E.isLeft(q)) throw q.left;
    expect(q.right.shape).toEqual([10]);
    expect(q.right.classes).toBeUndefined();
    expect(q.right.train.y).toBeInstanceOf(Float32Array);
    const unknown = loadDataset('imagenet', { seed: 1 });
    expect(E.isLeft(unknown) && unknown.left.message).toBe(
      'dataset "imagenet": unknown (known: mnist, fashion-mnist, cifar10, tinyimagenet50, circles, spirals, quadratic)',
    );
  });
});
