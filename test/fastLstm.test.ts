import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fusedLstmStep, packLstm } from '../src/l2o/fastLstm.js';
import { kernelBinaries, setFastKernels, setKernelBuild } from '../src/engine/instance.js';
import { configureParallel, DEFAULT_CHUNK, DEFAULT_MIN_PARALLEL } from '../src/engine/parallel.js';
import { l2o, lstmStep, type L2OState } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights, type L2OArchitecture } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { tidyState } from '../src/tensor/state.js';

/** Gradients over both preprocessing branches: tiny (|g| < e^-10), zero, large, both signs. */
function gradients(d: number, rng: Rng): tf.Tensor1D {
  return tf.tensor1d(Float32Array.from({ length: d }, (_, i) => (i % 11 === 0 ? 0 : rng.normal() * Math.exp(rng.between(-16, 2)))));
}

function randomState(arch: L2OArchitecture, d: number, rng: Rng): L2OState {
  const t = () =>
    tf.tensor2d(
      Float32Array.from({ length: d * arch.hidden }, () => rng.between(-1, 1)),
      [d, arch.hidden],
    );
  return { h: Array.from({ length: arch.layers }, t), c: Array.from({ length: arch.layers }, t) };
}

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);
const disposeState = (s: L2OState) => tf.dispose([...s.h, ...s.c]);

afterEach(() => {
  setFastKernels(true);
  configureParallel({ enabled: true, minCoordinates: DEFAULT_MIN_PARALLEL, chunk: DEFAULT_CHUNK });
});

for (const build of ['plain', 'relaxed'] as const) {
  describe(`fused LSTM kernel (wasm), ${build} build`, () => {
    beforeAll(() => setKernelBuild(build));
    afterAll(() => setKernelBuild('auto'));
    it('runs the build asked for', () => expect(kernelBinaries().build).toBe(build));

    const cases: Array<{ name: string; arch: L2OArchitecture; d: number }> = [
      { name: 'default architecture, d odd and not a multiple of the tile', arch: DEFAULT_ARCHITECTURE, d: 101 },
      { name: 'one coordinate', arch: DEFAULT_ARCHITECTURE, d: 1 },
      { name: 'one layer of 8 units, other p and scale', arch: { hidden: 8, layers: 1, preprocP: 5, outScale: 0.5 }, d: 40 },
      { name: 'three layers of 4 units', arch: { hidden: 4, layers: 3, preprocP: 10, outScale: 0.1 }, d: 33 },
    ];
    for (const { name, arch, d } of cases) {
      it(`equals lstmStep over 5 steps from a random state: ${name}`, () => {
        const rng = Rng.seeded(7);
        const weights = randomWeights(arch, rng);
        const packed = packLstm(weights, arch);
        let slow = randomState(arch, d, rng);
        let fast: L2OState = { h: slow.h.map((t) => t.clone()), c: slow.c.map((t) => t.clone()) };
        for (let step = 0; step < 5; step++) {
          const g = gradients(d, rng);
          const a = tidyState(() => lstmStep(weights, arch, g, slow));
          const b = fusedLstmStep(packed, g, fast);
          expect(b).not.toBeNull();
          const scale = tf.tidy(() => a.update.abs().max().dataSync()[0]!);
          expect(scale).toBeGreaterThan(0);
          expect(maxAbsDiff(a.update, b!.update)).toBeLessThan(1e-6 * Math.max(1, scale));
          for (let l = 0; l < arch.layers; l++) {
            expect(maxAbsDiff(a.state.h[l]!, b!.state.h[l]!)).toBeLessThan(2e-6);
            expect(maxAbsDiff(a.state.c[l]!, b!.state.c[l]!)).toBeLessThan(1e-5);
          }
          disposeState(slow);
          disposeState(fast);
          tf.dispose([g, a.update, b!.update]);
          slow = a.state;
          fast = b!.state;
        }
        disposeState(slow);
        disposeState(fast);
        disposeWeights(weights);
      });
    }

    it('on two threads equals lstmStep, on chained states (kept in shared memory) and fresh ones', () => {
      configureParallel({ minCoordinates: 1, chunk: 8 }); // many chunks: both threads take some
      const rng = Rng.seeded(9);
      const arch = DEFAULT_ARCHITECTURE;
      const weights = randomWeights(arch, rng);
      const packed = packLstm(weights, arch);
      for (const d of [2, 37, 300]) {
        let slow = randomState(arch, d, rng);
        let fast: L2OState = { h: slow.h.map((t) => t.clone()), c: slow.c.map((t) => t.clone()) };
        for (let step = 0; step < 4; step++) {
          if (step === 2) {
            // A state the kernel did not produce (as after a reset): copied in, not reused.
            disposeState(slow);
            disposeState(fast);
            slow = randomState(arch, d, rng);
            fast = { h: slow.h.map((t) => t.clone()), c: slow.c.map((t) => t.clone()) };
          }
          const g = gradients(d, rng);
          const a = tidyState(() => lstmStep(weights, arch, g, slow));
          const b = fusedLstmStep(packed, g, fast)!;
          expect(maxAbsDiff(a.update, b.update)).toBeLessThan(1e-6);
          for (let l = 0; l < arch.layers; l++) {
            expect(maxAbsDiff(a.state.h[l]!, b.state.h[l]!)).toBeLessThan(2e-6);
            expect(maxAbsDiff(a.state.c[l]!, b.state.c[l]!)).toBeLessThan(1e-5);
          }
          disposeState(slow);
          disposeState(fast);
          tf.dispose([g, a.update, b.update]);
          slow = a.state;
          fast = b.state;
        }
        disposeState(slow);
        disposeState(fast);
      }
      disposeWeights(weights);
    });

    it('does not change its inputs and keeps the tensor count flat', () => {
      const rng = Rng.seeded(3);
      const arch = DEFAULT_ARCHITECTURE;
      const weights = randomWeights(arch, rng);
      const packed = packLstm(weights, arch);
      const state = randomState(arch, 50, rng);
      const g = gradients(50, rng);
      const before = state.h.map((t) => t.dataSync().slice());
      const count = tf.memory().numTensors;
      const out = fusedLstmStep(packed, g, state)!;
      expect(tf.memory().numTensors).toBe(count + 1 + 2 * arch.layers);
      tf.dispose([out.update, ...out.state.h, ...out.state.c]);
      expect(tf.memory().numTensors).toBe(count);
      state.h.forEach((t, l) => expect(t.dataSync()).toEqual(before[l]));
      tf.dispose([g, ...state.h, ...state.c]);
      disposeWeights(weights);
    });

    it('l2o() gives the same iterates with the kernel on and off', () => {
      const rng = Rng.seeded(11);
      const weights = randomWeights(DEFAULT_ARCHITECTURE, rng);
      const d = 77;
      const x0 = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal()));
      const grads = Array.from({ length: 4 }, () => gradients(d, rng));
      const run = (fast: boolean): tf.Tensor1D => {
        setFastKernels(fast);
        const opt = l2o(weights);
        let x = x0.clone();
        let s = opt.init(x);
        for (const g of grads) {
          const [nx, ns] = opt.step(x, g, s);
          x.dispose();
          disposeState(s);
          x = nx;
          s = ns;
        }
        disposeState(s);
        return x;
      };
      const off = run(false);
      const on = run(true);
      expect(maxAbsDiff(off, x0)).toBeGreaterThan(1e-4);
      expect(maxAbsDiff(on, off)).toBeLessThan(1e-6);
      tf.dispose([off, on, x0, ...grads]);
      disposeWeights(weights);
    });

    it('returns null when the kernels are off, so that callers fall back to lstmStep', () => {
      setFastKernels(false);
      const rng = Rng.seeded(1);
      const weights = randomWeights(DEFAULT_ARCHITECTURE, rng);
      const state = randomState(DEFAULT_ARCHITECTURE, 4, rng);
      const g = gradients(4, rng);
      expect(fusedLstmStep(packLstm(weights, DEFAULT_ARCHITECTURE), g, state)).toBeNull();
      tf.dispose([g, ...state.h, ...state.c]);
      disposeWeights(weights);
    });
  });
}
