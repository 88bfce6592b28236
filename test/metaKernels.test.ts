import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fastSliceConfig } from '../src/tensor/kernels/fastSlice.js';
import { matMulGradConfig } from '../src/tensor/matMulGrad.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const rand = (shape: number[], rng: Rng) =>
  tf.tensor(
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()),
    shape,
  );
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);

describe('BatchMatMul gradient with explicit transposes', () => {
  // The default gradient, as TensorFlow.js registers it (read before anything replaces it).
  const defaultGrad = tf.getGradient('BatchMatMul')!;

  for (const [tA, tB] of [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ] as const) {
    for (const batched of [false, true]) {
      it(`equals the default gradient (transposeA ${tA}, transposeB ${tB}${batched ? ', batched' : ''})`, () => {
        const rng = Rng.seeded(Number(tA) * 4 + Number(tB) * 2 + Number(batched));
        const [m, k, n] = [5, 7, 3];
        const lead = batched ? [2] : [];
        const a = rand([...lead, ...(tA ? [k, m] : [m, k])], rng);
        const b = rand([...lead, ...(tB ? [n, k] : [k, n])], rng);
        const dy = rand([...lead, m, n], rng);
        const attrs = { transposeA: tA, transposeB: tB };
        const mine = matMulGradConfig.gradFunc(dy, [a, b], attrs);
        const ref = defaultGrad.gradFunc(dy, [a, b], attrs);
        const outs = [mine['a']!(), mine['b']!(), ref['a']!(), ref['b']!()];
        expect(outs[0]!.shape).toEqual(a.shape);
        expect(outs[1]!.shape).toEqual(b.shape);
        expect(maxAbsDiff(outs[0]!, outs[2]!)).toBeLessThan(1e-5);
        expect(maxAbsDiff(outs[1]!, outs[3]!)).toBeLessThan(1e-5);
        // and both are the gradient of Σ dy ⊙ matMul(a, b): check one entry by finite differences
        const f = (aa: tf.Tensor) => tf.tidy(() => tf.matMul(aa, b, tA, tB).mul(dy).sum().dataSync()[0]!);
        const eps = 1e-2;
        const e0 = tf.oneHot(tf.tensor1d([0], 'int32'), a.size).reshape(a.shape);
        const fd = (f(a.add(e0.mul(eps))) - f(a.sub(e0.mul(eps)))) / (2 * eps);
        expect(outs[0]!.reshape([-1]).dataSync()[0]!).toBeCloseTo(fd, 2);
        disposeAll([a, b, dy, outs, e0]);
      });
    }
  }
});

describe('wasm Slice copying only the slice', () => {
  const original = tf.getKernel('Slice', tf.getBackend())!;
  const fast = fastSliceConfig(original);
  const run = (x: tf.Tensor, begin: number[], size: number[]) => {
    const info = fast.kernelFunc({ inputs: { x }, backend: tf.backend(), attrs: { begin, size } });
    const single = Array.isArray(info) ? info[0]! : info;
    return tf.engine().makeTensorFromTensorInfo(single);
  };

  it('gives the same values as slicing on the cpu arithmetic, contiguous or not', () => {
    const rng = Rng.seeded(5);
    const x = rand([6, 5, 4], rng);
    const expected = (begin: number[], size: number[]) => {
      const v = x.arraySync() as number[][][];
      const out: number[] = [];
      for (let i = begin[0]!; i < begin[0]! + size[0]!; i++)
        for (let j = begin[1]!; j < begin[1]! + size[1]!; j++) for (let k = begin[2]!; k < begin[2]! + size[2]!; k++) out.push(v[i]![j]![k]!);
      return out;
    };
    for (const [begin, size] of [
      [
        [2, 0, 0],
        [3, 5, 4],
      ], // whole rows: contiguous
      [
        [1, 2, 0],
        [1, 2, 4],
      ], // inside one row: contiguous
      [
        [0, 1, 1],
        [6, 3, 2],
      ], // strided: the original kernel
    ] as const) {
      const out = run(x, [...begin], [...size]);
      expect(out.shape).toEqual(size);
      expect(Array.from(out.dataSync())).toEqual(expected([...begin], [...size]).map(Math.fround));
      out.dispose();
    }
    x.dispose();
  });
});
