import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fusedLstmStep, packLstm } from '../src/l2o/fastLstm.js';
import { fusedLstmBackward, unpackLstmGrad } from '../src/meta/fastLstmBackward.js';
import { setKernelBuild } from '../src/engine/instance.js';
import { configureParallel, DEFAULT_MIN_PARALLEL } from '../src/engine/parallel.js';
import { lstmStep, type L2OState } from '../src/l2o/lstm.js';
import { flattenWeights, randomWeights, unflattenWeights, type L2OArchitecture } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);
const maxAbs = (a: tf.Tensor) => tf.tidy(() => a.abs().max().dataSync()[0]!);
const FLT_MIN = 1.17549435e-38;
const subnormals = (t: tf.Tensor) => t.dataSync().filter((v) => v !== 0 && Math.abs(v) < FLT_MIN).length;

function randomState(arch: L2OArchitecture, d: number, rng: Rng, scale = 0.5): L2OState {
  const r = () =>
    tf.tensor2d(
      Float32Array.from({ length: d * arch.hidden }, () => scale * rng.normal()),
      [d, arch.hidden],
    );
  return { h: Array.from({ length: arch.layers }, r), c: Array.from({ length: arch.layers }, r) };
}

/** tf.grads of ⟨dU, u⟩ + Σ_l ⟨dh_l, h_l'⟩ + ⟨dc_l, c_l'⟩ through lstmStep, by weights then h then c. */
function reference(arch: L2OArchitecture, list: tf.Tensor[], g: tf.Tensor1D, state: L2OState, dU: tf.Tensor1D, dNext: L2OState): tf.Tensor[] {
  const n = list.length;
  const L = arch.layers;
  return tf.grads((...xs: tf.Tensor[]) => {
    const s = { h: xs.slice(n, n + L) as tf.Tensor2D[], c: xs.slice(n + L) as tf.Tensor2D[] };
    const out = lstmStep(unflattenWeights(arch, xs.slice(0, n)), arch, g, s);
    let total = out.update.mul(dU).sum();
    for (let l = 0; l < L; l++) total = total.add(out.state.h[l]!.mul(dNext.h[l]!).sum()).add(out.state.c[l]!.mul(dNext.c[l]!).sum());
    return total as tf.Scalar;
  })([...list, ...state.h, ...state.c]);
}

for (const build of ['plain', 'relaxed'] as const) {
  describe(`fused LSTM backward kernel (wasm), ${build} build`, () => {
    beforeAll(() => {
      setKernelBuild(build);
      configureParallel({ enabled: false });
    });
    afterAll(() => {
      setKernelBuild('auto');
      configureParallel({ enabled: true, minCoordinates: DEFAULT_MIN_PARALLEL });
    });

    const cases: Array<{ name: string; arch: L2OArchitecture; d: number }> = [
      { name: 'two layers of 8 units, d over two tiles and odd', arch: { hidden: 8, layers: 2, preprocP: 10, outScale: 0.1 }, d: 37 },
      { name: 'three layers of 4 units, other p and scale', arch: { hidden: 4, layers: 3, preprocP: 5, outScale: 0.5 }, d: 7 },
    ];
    for (const { name, arch, d } of cases) {
      it(`equals tf.grads through lstmStep: ${name}`, () => {
        const rng = Rng.seeded(31);
        const weights = randomWeights(arch, rng);
        const list = flattenWeights(weights);
        // gradients over both preprocessing branches (|g| below and above e^−p), and a zero
        const g = tf.tensor1d(Float32Array.from({ length: d }, (_, i) => (i === 3 ? 0 : rng.normal() * Math.exp(rng.between(-14, 1)))));
        const state = randomState(arch, d, rng);
        const dU = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal()));
        const dNext = randomState(arch, d, rng);
        const ref = reference(arch, list, g, state, dU, dNext);
        const packed = packLstm(weights, arch);
        const step = fusedLstmStep(packed, g, state)!;
        const dW = tf.zeros([packed.data.length]) as tf.Tensor1D;
        const back = fusedLstmBackward(packed, { grads: g, prev: state, next: step.state, dUpdate: dU, dNext }, dW, true)!;
        const mine = unpackLstmGrad(arch, dW.dataSync() as Float32Array);
        const n = list.length;
        mine.forEach((t, i) => expect(maxAbsDiff(t, ref[i]!), `weight ${i}`).toBeLessThan(3e-5 * Math.max(1, maxAbs(ref[i]!))));
        for (let l = 0; l < arch.layers; l++) {
          expect(maxAbsDiff(back.dPrev!.h[l]!, ref[n + l]!), `dh ${l}`).toBeLessThan(3e-5);
          expect(maxAbsDiff(back.dPrev!.c[l]!, ref[n + arch.layers + l]!), `dc ${l}`).toBeLessThan(3e-5);
        }
        // a second call accumulates: dW doubles
        const again = fusedLstmBackward(packed, { grads: g, prev: state, next: step.state, dUpdate: dU, dNext }, dW, false)!;
        expect(again.dPrev).toBeUndefined();
        const twice = unpackLstmGrad(arch, dW.dataSync() as Float32Array);
        twice.forEach((t, i) => expect(maxAbsDiff(t, mine[i]!.mul(2))).toBeLessThan(1e-6 * Math.max(1, maxAbs(t))));
        disposeAll([list, g, state, dU, dNext, ref, step.update, step.state, dW, back.dPrev, mine, twice]);
      });
    }

    it('stores no subnormal adjoints: vanishing gradients give zeros, not a slow tail of subnormals', () => {
      // Coordinates whose gradients underflow (saturated units of an optimizee): their adjoints
      // shrink every step; in exact float32 arithmetic they become subnormal, which x86 multiplies
      // ~100× slower. The kernel flushes them: the count of subnormals it stores is 0.
      const arch: L2OArchitecture = { hidden: 8, layers: 2, preprocP: 10, outScale: 0.1 };
      const d = 64;
      const rng = Rng.seeded(5);
      const weights = randomWeights(arch, rng);
      const packed = packLstm(weights, arch);
      const g = tf.tensor1d(Float32Array.from({ length: d }, (_, i) => (i % 2 === 0 ? 1e-39 * (1 + rng.uniform()) : 3e-33 * rng.normal())));
      const state = randomState(arch, d, rng);
      const dU = tf.tensor1d(Float32Array.from({ length: d }, (_, i) => (i % 2 === 0 ? 2e-39 : 1e-36 * rng.normal())));
      const dNext = randomState(arch, d, rng, 1e-37);
      expect(subnormals(g) + subnormals(dU) + dNext.c.reduce((a, t) => a + subnormals(t), 0)).toBeGreaterThan(0);
      const step = fusedLstmStep(packed, g, state)!;
      const dW = tf.zeros([packed.data.length]) as tf.Tensor1D;
      const back = fusedLstmBackward(packed, { grads: g, prev: state, next: step.state, dUpdate: dU, dNext }, dW, true)!;
      const stored = [...back.dPrev!.h, ...back.dPrev!.c].reduce((a, t) => a + subnormals(t), 0);
      expect(stored).toBe(0);
      // and what is not tiny is kept: the same call with normal adjoints equals tf.grads (above)
      disposeAll([flattenWeights(weights), g, state, dU, dNext, step.update, step.state, dW, back.dPrev]);
    });
  });
}
