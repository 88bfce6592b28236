import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fusedAdamUpdate, fusedMomentumUpdate, fusedSgdUpdate } from '../src/engine/fusedUpdate.js';
import { kernelBinaries, setFastKernels, setKernelBuild } from '../src/engine/instance.js';
import { adam } from '../src/optim/adam.js';
import type { Optimizer } from '../src/optim/optimizer.js';
import { inversePower } from '../src/optim/schedule.js';
import { momentum, sgd } from '../src/optim/sgd.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced, type StateRecord } from '../src/tensor/state.js';

afterEach(() => setFastKernels(true));

const randomVector = (rng: Rng, n: number, scale: number) => tf.tensor1d(Float32Array.from({ length: n }, () => scale * rng.normal()));

/** Five steps of `opt` from one start with the same gradients; the final parameters and state (caller disposes). */
function run<S extends StateRecord>(opt: Optimizer<S>, n: number, seed: number): { x: tf.Tensor1D; state: S } {
  const rng = Rng.seeded(seed);
  let x = randomVector(rng, n, 1);
  let state = opt.init(x);
  for (let i = 0; i < 5; i++) {
    // Gradients over many magnitudes, as Adam's normalisation sees them.
    const g = tf.tensor1d(Float32Array.from({ length: n }, () => rng.normal() * Math.exp(rng.between(-8, 2))));
    const count = tf.memory().numTensors;
    const [x1, s1] = opt.step(x, g, state);
    expect(tf.memory().numTensors).toBe(count + 1 + Object.values(s1).filter((v) => v instanceof tf.Tensor).length);
    expect(x.isDisposed || g.isDisposed).toBe(false); // inputs untouched
    g.dispose();
    disposeReplaced(state, s1);
    x.dispose();
    x = x1;
    state = s1;
  }
  return { x, state };
}

const relDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]! / Math.max(1e-30, b.abs().max().dataSync()[0]!));

for (const build of ['plain', 'relaxed'] as const) {
  describe(`fused optimizer updates (wasm) against the tfjs ops, ${build} build`, () => {
    beforeAll(() => setKernelBuild(build));
    afterAll(() => setKernelBuild('auto'));
    it('runs the build asked for', () => expect(kernelBinaries().build).toBe(build));

    const optimizers = {
      sgd: () => sgd({ lr: inversePower(3, 2, 1.5) }),
      momentum: () => momentum({ lr: inversePower(0.5, 2, 1.5), beta: 0.9 }),
      adam: () => adam({ lr: inversePower(0.01, 2, 1) }),
    };
    for (const [name, make] of Object.entries(optimizers)) {
      // 15 910: the MLP's size; 7 and 1: only the scalar tail; 33: both.
      for (const n of [15_910, 7, 1, 33]) {
        it(`${name}, ${n} coordinates: the same parameters and state after 5 steps`, () => {
          const fast = run(make() as Optimizer<StateRecord>, n, n);
          setFastKernels(false);
          const slow = run(make() as Optimizer<StateRecord>, n, n);
          expect(relDiff(fast.x, slow.x)).toBeLessThan(1e-6);
          for (const [key, value] of Object.entries(slow.state)) {
            const other = fast.state[key];
            if (value instanceof tf.Tensor && other instanceof tf.Tensor) expect(relDiff(other, value)).toBeLessThan(1e-6);
            else expect(other).toBe(value);
          }
          disposeAll([fast.x, slow.x, fast.state, slow.state]);
        });
      }
    }

    it.runIf(tf.getBackend() === 'wasm')('the kernels run on wasm: sgd, momentum and one Adam step worked by hand', () => {
      const x = tf.tensor1d([1, -2, 0.5, 3, 4]);
      const g = tf.tensor1d([0.5, 1, -4, 0, 2]);
      const z = tf.zerosLike(x);
      const s = fusedSgdUpdate(x, g, 0.25)!;
      expect(Array.from(s.dataSync())).toEqual([0.875, -2.25, 1.5, 3, 3.5]);
      // v' = 0.5 v + g with v = (2, 0, 1, −4, 0.5); x − 0.25 v'
      const v0 = tf.tensor1d([2, 0, 1, -4, 0.5]);
      const mo = fusedMomentumUpdate(x, g, v0, 0.25, 0.5)!;
      expect(Array.from(mo.velocity.dataSync())).toEqual([1.5, 1, -3.5, -2, 2.25]);
      expect(Array.from(mo.x.dataSync())).toEqual([0.625, -2.25, 1.375, 3.5, 3.4375]);
      // First step from zero moments: m̂ = g, v̂ = g², so x − η g / (|g| + ε) = x − η sign g (0 for g = 0).
      const a = fusedAdamUpdate(x, g, z, z, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, stepSize: 0.1 / 0.1, vScale: 1 / 0.001 })!;
      Array.from(a.x.dataSync()).forEach((xi, i) => expect(xi).toBeCloseTo([0.9, -2.1, 0.6, 3, 3.9][i]!, 5));
      Array.from(a.m.dataSync()).forEach((mi, i) => expect(mi).toBeCloseTo(0.1 * [0.5, 1, -4, 0, 2][i]!, 7));
      Array.from(a.v.dataSync()).forEach((vi, i) => expect(vi).toBeCloseTo(0.001 * [0.25, 1, 16, 0, 4][i]!, 7));
      disposeAll([x, g, z, s, a, v0, mo]);
    });
  });
}

describe('fused optimizer updates fall back to the tfjs ops', () => {
  it('when kernels are off, for sizes that differ, and inside tf.grad (the step stays differentiable)', () => {
    const x = tf.tensor1d([1, 2, 3]);
    const g = tf.tensor1d([0.5, -1, 2]);
    setFastKernels(false);
    expect(fusedSgdUpdate(x, g, 0.1)).toBeNull();
    setFastKernels(true);
    const short = tf.tensor1d([1, 2]);
    expect(fusedSgdUpdate(x, short, 0.1)).toBeNull();
    // d/dx Σ (x − η g) = 1; d/dg = −η; for Adam's first step, d/dx Σ x' = 1 too.
    const opt = sgd({ lr: 0.1 });
    const [dx, dg] = tf.grads((p: tf.Tensor, q: tf.Tensor) => opt.step(p.as1D(), q.as1D(), { t: 0 })[0].sum())([x, g]);
    expect(Array.from(dx!.dataSync())).toEqual([1, 1, 1]);
    Array.from(dg!.dataSync()).forEach((v) => expect(v).toBeCloseTo(-0.1, 6));
    const a = adam({ lr: 0.1 });
    const s0 = a.init(x);
    const da = tf.grad((p: tf.Tensor) => a.step(p.as1D(), g, s0)[0].sum())(x);
    expect(Array.from(da.dataSync())).toEqual([1, 1, 1]);
    // Momentum from v = 0: x' = x − η g, so d/dg Σ x' = −η.
    const mo = momentum({ lr: 0.5, beta: 0.9 });
    const m0 = mo.init(x);
    const dm = tf.grad((q: tf.Tensor) => mo.step(x, q.as1D(), m0)[0].sum())(g);
    Array.from(dm.dataSync()).forEach((v) => expect(v).toBeCloseTo(-0.5, 6));
    disposeAll([x, g, short, dx!, dg!, s0, da, m0, dm]);
  });
});
