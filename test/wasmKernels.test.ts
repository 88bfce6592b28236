import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/tensor/rng.js';

type Shape4 = [number, number, number, number];
type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];

interface Case {
  readonly x: Shape4;
  readonly filter: Shape4;
  readonly strides: number | [number, number];
  readonly pad: Pad;
}

const CASES: Case[] = [
  { x: [2, 7, 6, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' },
  { x: [3, 8, 8, 2], filter: [3, 3, 2, 5], strides: 1, pad: 'same' },
  { x: [2, 9, 7, 3], filter: [3, 2, 3, 4], strides: [2, 3], pad: 'valid' },
  { x: [1, 10, 9, 4], filter: [5, 3, 4, 2], strides: [3, 2], pad: 'same' },
  { x: [2, 6, 5, 3], filter: [2, 3, 3, 3], strides: 1, pad: 1 },
  {
    x: [2, 8, 7, 2],
    filter: [3, 3, 2, 3],
    strides: 2,
    pad: [
      [0, 0],
      [2, 0],
      [1, 3],
      [0, 0],
    ],
  },
  { x: [4, 5, 5, 6], filter: [1, 1, 6, 7], strides: 1, pad: 'valid' },
  // the first layer of conv-mnist at a small batch
  { x: [3, 28, 28, 1], filter: [3, 3, 1, 16], strides: 2, pad: 'same' },
];

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const randoms = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.normal());

/** dW and dx of a convolution, by the kernels directly and through tf.grad, on the current backend. */
function backprops(c: Case, xData: Float32Array, fData: Float32Array, dyData: Float32Array) {
  return tf.tidy(() => {
    const x = tf.tensor4d(xData, c.x);
    const filter = tf.tensor4d(fData, c.filter);
    const outShape = tf.conv2d(x, filter, c.strides, c.pad).shape;
    const dy = tf.tensor4d(dyData.subarray(0, size(outShape)), outShape);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC' };
    const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...attrs, filterShape: c.filter });
    const dx = tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { ...attrs, inputShape: c.x });
    // ⟨conv(x, W), dy⟩ has gradients dx and dW: the path training takes
    const [gx, gw] = tf.grads((a: tf.Tensor, w: tf.Tensor) =>
      tf
        .conv2d(a as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad)
        .mul(dy)
        .sum(),
    )([x, filter]);
    if (!(dw instanceof tf.Tensor && dx instanceof tf.Tensor)) throw new Error('expected single tensors');
    return {
      outShape,
      dw: Float32Array.from(dw.dataSync()),
      dx: Float32Array.from(dx.dataSync()),
      gw: Float32Array.from(gw!.dataSync()),
      gx: Float32Array.from(gx!.dataSync()),
    };
  });
}

/**
 * Float32 sums of S products of unit normals carry rounding error of order √S·2⁻²⁴ relative to
 * the largest value; 1e-5 of the largest |reference| allows that with room and still catches any
 * wrong index (an error of order 1).
 */
function expectClose(actual: Float32Array, reference: Float32Array): void {
  expect(actual.length).toBe(reference.length);
  const scale = reference.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expect(scale).toBeGreaterThan(0);
  let worst = 0;
  for (let i = 0; i < reference.length; i++) worst = Math.max(worst, Math.abs(actual[i]! - reference[i]!));
  expect(worst).toBeLessThanOrEqual(1e-5 * scale);
}

describe('wasm convolution backprop kernels against the cpu backend', () => {
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  it.each(CASES.map((c, i) => [i, c] as const))('case %i: x %j', async (i, c) => {
    const rng = Rng.seeded(100 + i);
    const xData = randoms(rng, size(c.x));
    const fData = randoms(rng, size(c.filter));
    const dyData = randoms(rng, size(c.x) * c.filter[3]); // at least as many as any output holds

    await tf.setBackend('wasm');
    const buffersBefore = tf.memory().numDataBuffers;
    const onWasm = backprops(c, xData, fData, dyData);
    // the kernels free their scratch buffers (patches, transposed filter) on the wasm heap
    expect(tf.memory().numDataBuffers).toBe(buffersBefore);

    await tf.setBackend('cpu');
    const onCpu = backprops(c, xData, fData, dyData);
    await tf.setBackend('wasm');

    expect(onWasm.outShape).toEqual(onCpu.outShape);
    expectClose(onWasm.dw, onCpu.dw);
    expectClose(onWasm.dx, onCpu.dx);
    expectClose(onWasm.gw, onCpu.gw);
    expectClose(onWasm.gx, onCpu.gx);
  });

  it('matches a hand-worked 1×3×3×1 case: stride 2, same padding, 2×2 filter', async () => {
    await tf.setBackend('wasm');
    const dwFor = (dy: number[]) =>
      tf.tidy(() => {
        const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
        const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [2, 2, 1, 1] };
        const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: tf.tensor4d(dy, [1, 2, 2, 1]) }, attrs);
        return dw instanceof tf.Tensor ? Array.from(dw.dataSync()) : [];
      });
    // x = 1..9 (3×3); 'same' with a 2×2 filter and stride 2 pads one row/column at the bottom/right: 2×2 outputs.
    // dy = [[1, 0], [0, 0]] picks the window at (0, 0): dW = [[1, 2], [4, 5]].
    expect(dwFor([1, 0, 0, 0])).toEqual([1, 2, 4, 5]);
    // dy = [[0, 0], [0, 1]]: the window at (2, 2) overlaps x only at 9, the rest is padding.
    expect(dwFor([0, 0, 0, 1])).toEqual([9, 0, 0, 0]);
    // dy = [[0, 2], [0, 0]]: the window at (0, 2) covers 3 and 6 on its left column.
    expect(dwFor([0, 2, 0, 0])).toEqual([6, 0, 12, 0]);
  });

  it('is unaffected by dy having been a matMul weight under another shape (XNNPACK caches by tensor id)', async () => {
    const c: Case = { x: [2, 6, 6, 3], filter: [3, 3, 3, 4], strides: 2, pad: 'same' }; // dy: [2, 3, 3, 4]
    const rng = Rng.seeded(7);
    const xData = randoms(rng, size(c.x));
    const dyData = randoms(rng, 72);
    const dwOf = (reuseDyAsWeights: boolean) =>
      tf.tidy(() => {
        const x = tf.tensor4d(xData, c.x);
        const dy = tf.tensor4d(dyData, [2, 3, 3, 4]);
        if (reuseDyAsWeights) tf.matMul(tf.ones([1, 8]), dy.reshape([8, 9])).dataSync();
        const dw = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: c.filter });
        return dw instanceof tf.Tensor ? Float32Array.from(dw.dataSync()) : new Float32Array(0);
      });
    await tf.setBackend('wasm');
    const onWasm = dwOf(true);
    await tf.setBackend('cpu');
    const onCpu = dwOf(false);
    await tf.setBackend('wasm');
    expectClose(onWasm, onCpu);
  });

  it('rejects what it does not implement, by name', async () => {
    await tf.setBackend('wasm');
    const x = tf.zeros([1, 4, 4, 2]);
    const dy = tf.zeros([1, 2, 2, 3]);
    const filter = tf.zeros([3, 3, 2, 3]);
    const base = { strides: 2, pad: 'same', dataFormat: 'NHWC', filterShape: [3, 3, 2, 3] };
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...base, dataFormat: 'NCHW' })).toThrow(
      /Conv2DBackpropFilter \(wasm\): only dataFormat NHWC/,
    );
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...base, dilations: 2 })).toThrow(/only dilations 1/);
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy }, { ...base, pad: 'full' })).toThrow(/pad must be/);
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropFilter, { x, dy: tf.zeros([1, 3, 3, 3]) }, base)).toThrow(/dy has shape \[1,3,3,3\]/);
    expect(() => tf.engine().runKernel(tf.Conv2DBackpropInput, { dy, filter }, { ...base, inputShape: [1, 4, 4, 2], dataFormat: 'NCHW' })).toThrow(
      /Conv2DBackpropInput \(wasm\): only dataFormat NHWC/,
    );
    tf.dispose([x, dy, filter]);
  });
});
