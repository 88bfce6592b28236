import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { kernelBinaries, setFastKernels, setKernelBuild } from '../src/engine/instance.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { mlp } from '../src/optimizee/mlp.js';
import { Rng } from '../src/tensor/rng.js';

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);

afterEach(() => setFastKernels(true));

for (const build of ['plain', 'relaxed'] as const) {
  describe(`fused MLP kernel (wasm) against the tfjs ops of mlp.ts, ${build} build`, () => {
    beforeAll(() => setKernelBuild(build));
    afterAll(() => setKernelBuild('auto'));
    it('runs the build asked for', () => expect(kernelBinaries().build).toBe(build));

    const cases = [
      { widths: [784, 20, 10], batch: 128 },
      { widths: [5, 7, 3, 2], batch: 9 }, // widths not multiples of 4, two hidden layers
      { widths: [2, 20, 2], batch: 1 },
      { widths: [40, 33, 17], batch: 20 }, // a 16-column block plus 4-column and scalar tails
    ];
    for (const { widths, batch } of cases) {
      it(`mlp ${widths.join('-')}, batch ${batch}: same loss, gradient and per-example losses`, () => {
        const rng = Rng.seeded(widths.length * 100 + batch);
        const objective = mlp(widths);
        const params = objective.init(rng);
        const classes = widths[widths.length - 1]!;
        const data = {
          x: Float32Array.from({ length: batch * widths[0]! }, () => rng.uniform()),
          y: Int32Array.from({ length: batch }, () => Math.floor(rng.uniform() * classes)),
          shape: [widths[0]!],
          size: batch,
        };
        const tb = toTensorBatch([data]);
        const count = tf.memory().numTensors;
        const fast = objective.lossAndGrad(params, tb);
        const fastPer = objective.perExampleLoss(params, tb);
        expect(tf.memory().numTensors).toBe(count + 3);
        setFastKernels(false);
        const slow = objective.lossAndGrad(params, tb);
        const slowPer = objective.perExampleLoss(params, tb);
        const gScale = tf.tidy(() => slow.grad.abs().max().dataSync()[0]!);
        expect(gScale).toBeGreaterThan(0);
        expect(Math.abs(fast.loss.dataSync()[0]! - slow.loss.dataSync()[0]!)).toBeLessThan(2e-6 * Math.max(1, slow.loss.dataSync()[0]!));
        expect(maxAbsDiff(fast.grad, slow.grad)).toBeLessThan(1e-5 * gScale);
        expect(maxAbsDiff(fastPer, slowPer)).toBeLessThan(5e-6);
        tf.dispose([fast.loss, fast.grad, fastPer, slow.loss, slow.grad, slowPer, params]);
        disposeTensorBatch(tb);
      });
    }

    it('falls back to the tfjs ops for float labels and inside tf.grad', () => {
      const objective = mlp([3, 4, 2]);
      const params = objective.init(Rng.seeded(1));
      const tb = toTensorBatch([{ x: new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), y: new Float32Array([1, 0]), shape: [3], size: 2 }]);
      const { loss, grad } = objective.lossAndGrad(params, tb);
      const auto = tf.grad((p: tf.Tensor) => objective.perExampleLoss(p.as1D(), tb).mean())(params);
      expect(maxAbsDiff(auto, grad)).toBeLessThan(1e-6);
      tf.dispose([loss, grad, auto, params]);
      disposeTensorBatch(tb);
    });
  });
}
