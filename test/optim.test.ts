import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { adam } from '../src/optim/adam.js';
import { inversePower } from '../src/optim/schedule.js';
import { momentum, sgd } from '../src/optim/sgd.js';
import { disposeAll } from '../src/tensor/state.js';

const vec = (xs: number[]) => tf.tensor1d(xs);
const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('schedules', () => {
  it('inversePower is η0 (1 + t/τ)^(−1/p), worked by hand', () => {
    const lr = inversePower(3, 100, 1.5);
    expect(lr(0)).toBe(3);
    // t = 700: (1 + 7)^(−2/3) = 8^(−2/3) = 1/4
    expect(lr(700)).toBeCloseTo(0.75, 12);
    // t = 2600: 27^(−2/3) = 1/9
    expect(lr(2600)).toBeCloseTo(1 / 3, 12);
  });
});

describe('sgd', () => {
  it('steps x − η_t g with the schedule advancing per step', () => {
    const opt = sgd({ lr: inversePower(3, 1, 1.5) }); // η0 = 3, η1 = 3 · 2^(−2/3)
    const x0 = vec([1, -2]);
    const g = vec([0.5, 1]);
    const s0 = opt.init(x0);
    const [x1, s1] = opt.step(x0, g, s0);
    expect(values(x1)).toEqual([1 - 1.5, -2 - 3].map(Math.fround));
    const [x2] = opt.step(x1, g, s1);
    const eta1 = 3 * Math.pow(2, -2 / 3);
    expect(values(x2)[0]).toBeCloseTo(-0.5 - eta1 * 0.5, 5);
    expect(values(x0)).toEqual([1, -2]); // inputs untouched
    disposeAll([x0, g, x1, x2]);
  });
});

describe('momentum', () => {
  it('v ← βv + g, x ← x − ηv over two steps', () => {
    const opt = momentum({ lr: 0.1, beta: 0.9 });
    const x0 = vec([1]);
    const s0 = opt.init(x0);
    const [x1, s1] = opt.step(x0, vec([2]), s0); // v = 2, x = 1 − 0.2 = 0.8
    const [x2, s2] = opt.step(x1, vec([1]), s1); // v = 1.8 + 1 = 2.8, x = 0.8 − 0.28 = 0.52
    expect(values(x1)[0]).toBeCloseTo(0.8, 6);
    expect(values(x2)[0]).toBeCloseTo(0.52, 6);
    expect(values(s2.velocity)[0]).toBeCloseTo(2.8, 6);
    disposeAll([x0, x1, x2, s0, s1, s2]);
  });
});

describe('adam', () => {
  it('matches a hand-worked two-step Adam with bias correction', () => {
    const opt = adam({ lr: 0.1 });
    const x0 = vec([1, 1]);
    const s0 = opt.init(x0);
    // Step 1: m = 0.1 g, v = 0.001 g²; m̂ = g, v̂ = g² → x −= 0.1 · g/(|g| + ε) = 0.1 · sign g
    const [x1, s1] = opt.step(x0, vec([3, -0.5]), s0);
    expect(values(x1)[0]).toBeCloseTo(0.9, 6);
    expect(values(x1)[1]).toBeCloseTo(1.1, 6);
    // Step 2 with g = (1, 0.5):
    const m = [0.9 * 0.3 + 0.1 * 1, 0.9 * -0.05 + 0.1 * 0.5];
    const v = [0.999 * 0.009 + 0.001 * 1, 0.999 * 0.00025 + 0.001 * 0.25];
    const expected = [0, 1].map((i) => values(x1)[i]! - (0.1 * (m[i]! / (1 - 0.81))) / (Math.sqrt(v[i]! / (1 - 0.998001)) + 1e-8));
    const [x2, s2] = opt.step(x1, vec([1, 0.5]), s1);
    expect(values(x2)[0]).toBeCloseTo(expected[0]!, 5);
    expect(values(x2)[1]).toBeCloseTo(expected[1]!, 5);
    expect(s2.t).toBe(2);
    disposeAll([x0, x1, x2, s0, s1, s2]);
  });

  it('reset keeps the step counter and clears the moments', () => {
    const opt = adam({ lr: 0.1 });
    const x = vec([1]);
    const s = opt.init(x);
    const [x1, s1] = opt.step(x, vec([1]), s);
    const r = opt.reset!(x1, s1);
    expect(r.t).toBe(1);
    expect(values(r.m)).toEqual([0]);
    disposeAll([x, s, x1, s1, r]);
  });
});
