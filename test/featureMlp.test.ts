import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  FEATURE_MLP_ARCHITECTURE as ARCH,
  FEATURE_MLP_WEIGHT_NAMES,
  adamLikeWeights,
  advanceFeatures,
  featureCount,
  featureMlpBackward,
  featureMlpUpdate,
  zeroFeatureMlpState,
  withWarmUp,
  zeroFeatureMlpWeights,
  type FeatureMlpWeights,
} from '../src/l2o/featureMlp.js';
import { featureMlp, type FeatureMlpOptState } from '../src/l2o/featureMlpOptimizer.js';
import { adam } from '../src/optim/adam.js';
import type { Optimizer } from '../src/optim/optimizer.js';
import { mlp } from '../src/optimizee/mlp.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { Rng } from '../src/tensor/rng.js';
import { decodeState, encodeState, materializeState, stateProblems } from '../src/tensor/serialize.js';
import { disposeAll, disposeReplaced, type StateRecord } from '../src/tensor/state.js';

/** Every weight random and non-zero (the MLP, its time features and the log step all active). */
function randomWeights(seed: number, scale = 0.5): FeatureMlpWeights {
  const rng = Rng.seeded(seed);
  const w = zeroFeatureMlpWeights(ARCH);
  for (const name of FEATURE_MLP_WEIGHT_NAMES) for (let i = 0; i < w[name].length; i++) w[name][i] = rng.between(-scale, scale);
  return w;
}

/** Runs an optimizer `steps` steps on a small classifier with fixed batches; the points after each step. */
function trajectory<S extends StateRecord>(opt: Optimizer<S>, steps: number): Float32Array[] {
  const objective = mlp([4, 6, 3]);
  const rng = Rng.seeded(7);
  const batches = Array.from({ length: 4 }, () =>
    toTensorBatch([
      { x: Float32Array.from({ length: 16 * 4 }, () => rng.normal()), y: Float32Array.from({ length: 16 }, () => rng.int(3)), shape: [4], size: 16 },
    ]),
  );
  let x = objective.init(Rng.seeded(3));
  let state = opt.init(x);
  const out: Float32Array[] = [];
  for (let t = 0; t < steps; t++) {
    const { loss, grad } = objective.lossAndGrad(x, batches[t % batches.length]!);
    const [next, nextState] = opt.step(x, grad, state);
    disposeReplaced([x, state], [next, nextState]);
    tf.dispose([loss, grad]);
    x = next;
    state = nextState;
    out.push(Float32Array.from(x.dataSync()));
  }
  disposeAll([x, state]);
  for (const b of batches) disposeTensorBatch(b);
  return out;
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('the feature-MLP learned optimizer', () => {
  it('from adamLikeWeights follows Adam(lr) of src/optim/adam.ts step for step on a classifier', () => {
    const lr = 0.01;
    const learned = trajectory(featureMlp(adamLikeWeights(ARCH, Rng.seeded(1), lr), ARCH), 25);
    const reference = trajectory(adam({ lr }), 25);
    learned.forEach((x, t) => expect(maxAbsDiff(x, reference[t]!), `step ${t + 1}`).toBeLessThan(1e-5));
    expect(maxAbsDiff(learned[24]!, reference[0]!)).toBeGreaterThan(1e-2); // it did move
  });

  it('is odd in the gradient: negated gradients give the negated points and moments, exactly', () => {
    const opt = featureMlp(randomWeights(2), ARCH);
    const rng = Rng.seeded(4);
    const P = 40;
    const grads = Array.from({ length: 30 }, () => Float32Array.from({ length: P }, () => rng.normal() * 10 ** rng.between(-3, 1)));
    const run = (sign: number) => {
      let x = tf.zeros([P]) as tf.Tensor1D;
      let state = opt.init(x);
      const points: Float32Array[] = [];
      for (const g of grads) {
        const gt = tf.tensor1d(g.map((v) => sign * v));
        const [next, nextState] = opt.step(x, gt, state);
        disposeReplaced([x, state, gt], [next, nextState]);
        [x, state] = [next, nextState];
        points.push(Float32Array.from(x.dataSync()));
      }
      const moments = { m: Float32Array.from(state.m.dataSync()), v: Float32Array.from(state.v.dataSync()) };
      disposeAll([x, state]);
      return { points, moments };
    };
    const plus = run(1);
    const minus = run(-1);
    const mismatches = (a: Float32Array, b: Float32Array, sign: number) => a.filter((v, i) => v !== sign * b[i]!).length;
    plus.points.forEach((p, t) => expect(mismatches(p, minus.points[t]!, -1), `step ${t + 1}`).toBe(0));
    expect(mismatches(plus.moments.m, minus.moments.m, -1)).toBe(0);
    expect(mismatches(plus.moments.v, minus.moments.v, 1)).toBe(0);
    expect(maxAbsDiff(plus.points[29]!, new Float32Array(P))).toBeGreaterThan(1e-4); // not all zero
  });

  it('featureMlpBackward matches central finite differences of featureMlpUpdate in every weight', () => {
    // α = 1 (the kernels take the architecture): updates and gradients of order 1, far above float32 rounding.
    const arch = { ...ARCH, alpha: 1 };
    const P = 6;
    const F = featureCount(arch);
    const rng = Rng.seeded(9);
    const w = randomWeights(5, 0.3);
    const state = zeroFeatureMlpState(arch, P);
    state.count = 0;
    state.clock = 40; // time features well away from 0 and 1
    const features = new Float32Array(P * F);
    let time: Float64Array = new Float64Array(0);
    for (let t = 0; t < 3; t++)
      time = advanceFeatures(
        arch,
        Float32Array.from({ length: P }, () => rng.normal()),
        state,
        features,
      );
    const adjoint = Float32Array.from({ length: P }, () => rng.normal());
    const objective = (weights: FeatureMlpWeights) => {
      // The kernel computes in float64 and rounds only on the store: a float64 buffer keeps the
      // differences free of float32 rounding.
      const u = new Float64Array(P) as unknown as Float32Array;
      featureMlpUpdate(arch, weights, features, time, u);
      return u.reduce((s, v, i) => s + adjoint[i]! * v, 0);
    };
    const grad = zeroFeatureMlpWeights(arch);
    featureMlpBackward(arch, w, features, time, adjoint, grad);
    // A central difference in float32 weights: the step actually taken is (w + h) − (w − h) as stored.
    const fd = (name: (typeof FEATURE_MLP_WEIGHT_NAMES)[number], i: number, h: number) => {
      const plus = { ...w, [name]: Float32Array.from(w[name]) };
      const minus = { ...w, [name]: Float32Array.from(w[name]) };
      plus[name][i] = w[name][i]! + h;
      minus[name][i] = w[name][i]! - h;
      return (objective(plus) - objective(minus)) / (plus[name][i]! - minus[name][i]!);
    };
    let checked = 0;
    let total = 0;
    let largest = 0;
    for (const name of FEATURE_MLP_WEIGHT_NAMES) {
      for (let i = 0; i < w[name].length; i++) {
        total += 1;
        const [a, b] = [fd(name, i, 2e-3), fd(name, i, 1e-3)];
        // A ReLU kink within h changes the difference quotient with h: skip that entry.
        if (Math.abs(a - b) > 1e-4 * Math.abs(b) + 1e-6) continue;
        checked += 1;
        largest = Math.max(largest, Math.abs(grad[name][i]!));
        expect(Math.abs(grad[name][i]! - b), `${name}[${i}]: ${grad[name][i]} against ${b}`).toBeLessThan(1e-4 * Math.abs(b) + 1e-6);
      }
    }
    expect(checked).toBeGreaterThan(0.8 * total);
    expect(largest).toBeGreaterThan(0.1); // the gradient is not trivially small
  });

  it('reset keeps the clock and zeroes count and moments; the next step is a fresh start at that clock', () => {
    const weights = randomWeights(6);
    const opt = featureMlp(weights, ARCH);
    const rng = Rng.seeded(8);
    const P = 12;
    let x = tf.tensor1d(Float32Array.from({ length: P }, () => rng.normal()));
    let state = opt.init(x);
    for (let t = 0; t < 7; t++) {
      const g = tf.tensor1d(Float32Array.from({ length: P }, () => rng.normal()));
      const [next, nextState] = opt.step(x, g, state);
      disposeReplaced([x, state, g], [next, nextState]);
      [x, state] = [next, nextState];
    }
    expect([state.clock, state.count]).toEqual([7, 7]);
    const reset: FeatureMlpOptState = opt.reset!(x, state);
    disposeReplaced(state, reset);
    expect([reset.clock, reset.count]).toEqual([7, 0]);
    expect(reset.m.shape).toEqual([ARCH.betas.length, P]);
    expect(Array.from(reset.m.dataSync()).every((v) => v === 0)).toBe(true);
    expect(Array.from(reset.v.dataSync()).every((v) => v === 0)).toBe(true);

    // The step after the reset, against the kernels run on zero moments with count 0 and clock 7.
    const g = Float32Array.from({ length: P }, () => rng.normal());
    const gt = tf.tensor1d(g);
    const [next, after] = opt.step(x, gt, reset);
    const kernel = zeroFeatureMlpState(ARCH, P);
    kernel.clock = 7;
    const features = new Float32Array(P * featureCount(ARCH));
    const update = new Float32Array(P);
    featureMlpUpdate(ARCH, weights, features, advanceFeatures(ARCH, g, kernel, features), update);
    const expected = Float32Array.from(x.dataSync()).map((v, i) => v + update[i]!);
    expect(maxAbsDiff(next.dataSync(), expected)).toBe(0);
    expect([after.clock, after.count]).toEqual([8, 1]);
    // ...which the clock changes: a fresh optimizer (clock 0) steps elsewhere.
    const init = opt.init(x);
    const [fresh, freshState] = opt.step(x, gt, init);
    expect(maxAbsDiff(fresh.dataSync(), expected)).toBeGreaterThan(1e-7);
    disposeAll([x, gt, reset, next, after, init, fresh, freshState]);
  });

  it('withWarmUp scales the first step by the closed form and leaves steps past a few T_min as they were', () => {
    const weights = adamLikeWeights(ARCH, Rng.seeded(4), 0.03);
    const before = Float32Array.from(weights.bs);
    const warm = withWarmUp(ARCH, weights, 1);
    expect(weights.bs).toEqual(before); // a copy: the original keeps its weights
    const P = 8;
    const rng = Rng.seeded(9);
    const g = Float32Array.from({ length: P }, () => rng.normal());
    const updateAt = (w: FeatureMlpWeights, clock: number) => {
      const state = zeroFeatureMlpState(ARCH, P);
      state.clock = clock;
      const features = new Float32Array(P * featureCount(ARCH));
      const update = new Float32Array(P);
      featureMlpUpdate(ARCH, w, features, advanceFeatures(ARCH, g, state, features), update);
      return update;
    };
    // With the MLP's outputs zero the log step is b_s + u_sᵀτ and the step α·exp(S·tanh(s/S)); at step 1, τ = tanh(1/T).
    const S = ARCH.logStepBound;
    const s = (w: FeatureMlpWeights) => w.bs[0]! + ARCH.timescales.reduce((a, T, j) => a + w.us[j]! * Math.tanh(1 / T), 0);
    const ratio = Math.exp(S * Math.tanh(s(warm) / S) - S * Math.tanh(s(weights) / S));
    expect(ratio).toBeLessThan(0.6);
    const [u0, w0] = [updateAt(weights, 0), updateAt(warm, 0)];
    for (let i = 0; i < P; i++) expect(w0[i]! / u0[i]!).toBeCloseTo(ratio, 5);
    const [u1, w1] = [updateAt(weights, 100), updateAt(warm, 100)];
    expect(maxAbsDiff(u1, w1)).toBeLessThan(1e-6 * Math.max(...u1.map(Math.abs)));
  });

  it('has a plain state a run checkpoint saves and restores: the restored optimizer continues bit for bit', () => {
    const opt = featureMlp(randomWeights(10), ARCH);
    const rng = Rng.seeded(12);
    const P = 9;
    const grads = Array.from({ length: 6 }, () => tf.tensor1d(Float32Array.from({ length: P }, () => rng.normal())));
    const steps = (x0: tf.Tensor1D, s0: FeatureMlpOptState, gs: readonly tf.Tensor1D[]) => {
      let [x, state] = [x0.clone(), s0];
      for (const g of gs) {
        const [next, nextState] = opt.step(x, g, state);
        disposeReplaced([x, state], [next, nextState]);
        [x, state] = [next, nextState];
      }
      return [x, state] as const;
    };
    const x0 = tf.zeros([P]) as tf.Tensor1D;
    const [xMid, mid] = steps(x0, opt.init(x0), grads.slice(0, 3));
    const saved = decodeState(JSON.parse(JSON.stringify(encodeState(mid))), 'ck.json');
    if (saved._tag === 'Left') throw saved.left;
    const template = opt.init(x0);
    expect(stateProblems(template, saved.right)).toEqual([]);
    const restored = materializeState(saved.right) as FeatureMlpOptState;
    expect([restored.clock, restored.count]).toEqual([3, 3]);
    const [a, endA] = steps(xMid, mid, grads.slice(3));
    const [b, endB] = steps(xMid, restored, grads.slice(3));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    disposeAll([x0, xMid, template, a, endA, b, endB, grads]);
  });

  it('keeps tf.memory flat over many steps', () => {
    const opt = featureMlp(randomWeights(3), ARCH);
    const P = 30;
    let x = tf.zeros([P]) as tf.Tensor1D;
    const g = tf.ones([P]) as tf.Tensor1D;
    let state = opt.init(x);
    const step = () => {
      const [next, nextState] = opt.step(x, g, state);
      disposeReplaced([x, state], [next, nextState]);
      [x, state] = [next, nextState];
    };
    step();
    const tensors = tf.memory().numTensors;
    for (let t = 0; t < 200; t++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    disposeAll([x, state, g]);
  });
});
