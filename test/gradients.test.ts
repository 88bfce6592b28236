import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toTensorBatch, disposeTensorBatch, EMPTY_BATCH } from '../src/optimizee/tensorBatch.js';
import { convnet } from '../src/optimizee/convnet.js';
import { mlp } from '../src/optimizee/mlp.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective } from '../src/optimizee/objective.js';
import { exactQuadratic, leastSquares } from '../src/optimizee/quadratic.js';
import { Rng } from '../src/tensor/rng.js';

/**
 * Every optimizee's gradient (float32, on wasm and on cpu) against central finite differences.
 *
 * The differences are taken of a float64 re-implementation of each loss, written here from the
 * documented flat layouts (and asserted equal to the optimizee's own per-example losses), so
 * they are free of float32 rounding: with step ε = 1e-6 the central-difference remainder
 * (O(ε²) ≈ 1e-12) and float64 rounding (≈ 1e-16·|f|/ε ≈ 1e-10) vanish, and a ReLU kink is
 * crossed only by a pre-activation within ~1e-6 of zero. (A float32 difference cannot do this
 * on the ReLU nets: a step large enough to beat float32 noise crosses kinks and is off by a
 * few %.) The exact quadratic, whose central differences are exact, uses its own float64
 * `exactLoss` at float32 points with ε = 1e-2.
 *
 * Each check is a directional derivative along d = ĝ_B + r̂_B, supported on one parameter block B
 * (a weight tensor or a bias): ĝ_B is the block's normalised gradient, r̂_B a random unit vector.
 * Then g·d ≈ ‖g_B‖, so a block's error shows at that block's own scale, and the random part
 * catches a gradient pointing the wrong way.
 *
 * Tolerance: what is left is the float32 error of the gradient itself, sums of up to a few
 * thousand float32 terms (2⁻²⁴ ≈ 6e-8 each, mostly cancelling): measured ≤ 3e-7 relative here.
 * We ask for |fd − g·(x₊ − x₋)| ≤ 1e-4·|g·(x₊ − x₋)| + 1e-6·‖g_B‖·‖x₊ − x₋‖: a 0.01 % error in
 * any block fails, let alone a wrong factor, sign, index or missing term.
 */

const RTOL = 1e-4;
const ATOL_OF_BLOCK_NORM = 1e-6;

interface Subject {
  readonly label: string;
  readonly objective: Objective;
  readonly data: (rng: Rng) => Batch;
  /** Sizes of the parameter blocks in layout order. */
  readonly blocks: readonly number[];
  /** Per-example losses in float64. */
  readonly reference: (params: Float64Array, batch: Batch) => Float64Array;
  /** Finite-difference step; points are rounded to float32 when the reference needs float32 input. */
  readonly eps: number;
  readonly float32Points?: boolean;
  readonly dispose?: () => void;
}

// ---- float64 references ------------------------------------------------------------------

/** −log softmax(logits)[label], stably. */
function nll(logits: Float64Array, label: number): number {
  const max = Math.max(...logits);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return max + Math.log(sum) - logits[label]!;
}

/** z = a·W + b with W [inputs, outputs] row-major at `offset` of the flat vector, b right after. */
function dense(p: Float64Array, offset: number, a: Float64Array, outputs: number): Float64Array {
  const inputs = a.length;
  const z = p.slice(offset + inputs * outputs, offset + inputs * outputs + outputs);
  for (let i = 0; i < inputs; i++) for (let j = 0; j < outputs; j++) z[j]! += a[i]! * p[offset + i * outputs + j]!;
  return z;
}

function mlpReference(widths: readonly number[]) {
  return (p: Float64Array, batch: Batch): Float64Array =>
    Float64Array.from({ length: batch.size }, (_, n) => {
      let a: Float64Array = Float64Array.from(batch.x.subarray(n * widths[0]!, (n + 1) * widths[0]!));
      let offset = 0;
      for (let l = 1; l < widths.length; l++) {
        const z = dense(p, offset, a, widths[l]!);
        offset += a.length * widths[l]! + widths[l]!;
        a = l === widths.length - 1 ? z : z.map((v) => 1 / (1 + Math.exp(-v)));
      }
      return nll(a, batch.y[n]!);
    });
}

type Shape3 = readonly [number, number, number];

/** 3×3, stride 2, TensorFlow 'same' padding (out = ⌈in/2⌉, the odd pixel of padding at the bottom/right), ReLU. */
function convReference(p: Float64Array, offset: number, a: Float64Array, [h, w, c]: Shape3, cout: number) {
  const oh = Math.ceil(h / 2);
  const ow = Math.ceil(w / 2);
  const top = Math.floor(Math.max((oh - 1) * 2 + 3 - h, 0) / 2);
  const left = Math.floor(Math.max((ow - 1) * 2 + 3 - w, 0) / 2);
  const bias = offset + 9 * c * cout;
  const out = new Float64Array(oh * ow * cout);
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let co = 0; co < cout; co++) {
        let z = p[bias + co]!;
        for (let kh = 0; kh < 3; kh++)
          for (let kw = 0; kw < 3; kw++) {
            const iy = y * 2 - top + kh;
            const ix = x * 2 - left + kw;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let ci = 0; ci < c; ci++) z += a[(iy * w + ix) * c + ci]! * p[offset + ((kh * 3 + kw) * c + ci) * cout + co]!;
          }
        out[(y * ow + x) * cout + co] = Math.max(z, 0);
      }
  const shape: Shape3 = [oh, ow, cout];
  return { out, shape, next: bias + cout };
}

function convnetReference(input: Shape3, channels: readonly number[], classes: number) {
  const pixels = input.reduce((a, b) => a * b, 1);
  return (p: Float64Array, batch: Batch): Float64Array =>
    Float64Array.from({ length: batch.size }, (_, n) => {
      let a: Float64Array = Float64Array.from(batch.x.subarray(n * pixels, (n + 1) * pixels));
      let shape = input;
      let offset = 0;
      for (const cout of channels) {
        const r = convReference(p, offset, a, shape, cout);
        [a, shape, offset] = [r.out, r.shape, r.next];
      }
      return nll(dense(p, offset, a, classes), batch.y[n]!); // a is already flat in NHWC order
    });
}

function leastSquaresReference(dim: number) {
  return (p: Float64Array, batch: Batch): Float64Array =>
    Float64Array.from({ length: batch.size }, (_, n) => {
      let r = -batch.y[n]!;
      for (let j = 0; j < dim; j++) r += batch.x[n * dim + j]! * p[j]!;
      return 0.5 * r * r;
    });
}

// ---- subjects ------------------------------------------------------------------------------

function classification(shape: readonly number[], size: number, classes: number) {
  return (rng: Rng): Batch => ({
    x: Float32Array.from({ length: size * shape.reduce((a, b) => a * b, 1) }, () => rng.uniform()),
    y: Int32Array.from({ length: size }, () => rng.int(classes)),
    shape,
    size,
  });
}

const convBlocks = (cin: number, cout: number) => [9 * cin * cout, cout];

function subjects(): Subject[] {
  const quadratic = exactQuadratic({ dim: 6, mu: 0.5, L: 4 }, Rng.seeded(7));
  const conv3 = { input: [9, 9, 3] as Shape3, channels: [16, 32, 32], classes: 10 };
  const conv5 = { input: [16, 16, 3] as Shape3, channels: [16, 32, 64, 64, 128], classes: 5 };
  return [
    {
      label: 'mlp 784-20-10',
      objective: mlp([784, 20, 10]),
      data: classification([784], 4, 10),
      blocks: [784 * 20, 20, 20 * 10, 10],
      reference: mlpReference([784, 20, 10]),
      eps: 1e-6,
    },
    {
      label: 'mlp 2-20-2',
      objective: mlp([2, 20, 2]),
      data: classification([2], 16, 2),
      blocks: [2 * 20, 20, 20 * 2, 2],
      reference: mlpReference([2, 20, 2]),
      eps: 1e-6,
    },
    {
      // 9 → 5 → 3 → 2 (⌈/2⌉ each): a 2·2·32 = 128-feature head
      label: 'convnet 3-layer 16-32-32 on 9×9×3',
      objective: convnet(conv3),
      data: classification(conv3.input, 3, conv3.classes),
      blocks: [...convBlocks(3, 16), ...convBlocks(16, 32), ...convBlocks(32, 32), 2 * 2 * 32 * 10, 10],
      reference: convnetReference(conv3.input, conv3.channels, conv3.classes),
      eps: 1e-6,
    },
    {
      // 16 → 8 → 4 → 2 → 1 → 1: a 128-feature head
      label: 'convnet 5-layer 16-32-64-64-128 on 16×16×3',
      objective: convnet(conv5),
      data: classification(conv5.input, 2, conv5.classes),
      blocks: [...convBlocks(3, 16), ...convBlocks(16, 32), ...convBlocks(32, 64), ...convBlocks(64, 64), ...convBlocks(64, 128), 128 * 5, 5],
      reference: convnetReference(conv5.input, conv5.channels, conv5.classes),
      eps: 1e-6,
    },
    {
      label: 'leastSquares 5',
      objective: leastSquares(5),
      data: (rng) => ({
        x: Float32Array.from({ length: 8 * 5 }, () => rng.normal()),
        y: Float32Array.from({ length: 8 }, () => rng.normal()),
        shape: [5],
        size: 8,
      }),
      blocks: [5],
      reference: leastSquaresReference(5),
      eps: 1e-6,
    },
    {
      label: 'exactQuadratic 6',
      objective: quadratic,
      data: () => EMPTY_BATCH,
      blocks: [6],
      reference: (p) => Float64Array.of(quadratic.exactLoss(Float32Array.from(p))),
      eps: 1e-2,
      float32Points: true,
      dispose: () => quadratic.dispose(),
    },
  ];
}

// ---- the check -----------------------------------------------------------------------------

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! ** 2;
  return Math.sqrt(s);
}

function checkGradient(s: Subject, rng: Rng): void {
  const { objective } = s;
  expect(s.blocks.reduce((a, b) => a + b, 0)).toBe(objective.size);
  const data = s.data(rng);
  const batch = toTensorBatch([data]);
  const params = objective.init(rng);
  const before = tf.memory().numTensors;
  const { loss, grad } = objective.lossAndGrad(params, batch);
  const x = Float64Array.from(params.dataSync());
  const g = Float64Array.from(grad.dataSync());
  const lossValue = loss.dataSync()[0]!;
  tf.dispose([loss, grad]);
  expect(tf.memory().numTensors, 'lossAndGrad leaves no tensor behind').toBe(before);
  const losses32 = tf.tidy(() => objective.perExampleLoss(params, batch).dataSync().slice());
  // the gradient tape agrees with the written-out backward pass
  const auto = tf.tidy(() =>
    tf
      .grad((p: tf.Tensor) => objective.perExampleLoss(p.as1D(), batch).mean())(params)
      .dataSync()
      .slice(),
  );
  disposeTensorBatch(batch);
  params.dispose();

  // the float64 reference is the same function
  const losses64 = s.reference(x, data);
  expect(losses32.length).toBe(losses64.length);
  for (let i = 0; i < losses64.length; i++) expect(Math.abs(losses32[i]! - losses64[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(losses64[i]!)));
  const mean = (v: Float64Array) => v.reduce((a, b) => a + b, 0) / v.length;
  expect(Math.abs(lossValue - mean(losses64))).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(mean(losses64))));
  const gScale = g.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < g.length; i++) expect(Math.abs(g[i]! - auto[i]!)).toBeLessThanOrEqual(1e-4 * gScale);

  let start = 0;
  for (const [b, len] of s.blocks.entries()) {
    const gb = g.subarray(start, start + len);
    const gNorm = norm(gb);
    expect(gNorm, `block ${b} has a gradient`).toBeGreaterThan(1e-3 * gScale);
    const r = Float64Array.from({ length: len }, () => rng.normal());
    const rNorm = norm(r);
    const xp = x.slice();
    const xm = x.slice();
    const round = s.float32Points ? Math.fround : (v: number) => v;
    for (let i = 0; i < len; i++) {
      const d = gb[i]! / gNorm + r[i]! / rNorm;
      xp[start + i] = round(x[start + i]! + s.eps * d);
      xm[start + i] = round(x[start + i]! - s.eps * d);
    }
    let predicted = 0; // g·(x₊ − x₋), the displacement actually taken
    for (let i = start; i < start + len; i++) predicted += g[i]! * (xp[i]! - xm[i]!);
    const measured = mean(s.reference(xp, data)) - mean(s.reference(xm, data));
    const span = norm(xp.subarray(start, start + len).map((v, i) => v - xm[start + i]!));
    expect(Math.abs(measured - predicted), `block ${b}: measured ${measured}, predicted ${predicted}`).toBeLessThanOrEqual(
      RTOL * Math.abs(predicted) + ATOL_OF_BLOCK_NORM * gNorm * span,
    );
    start += len;
  }
}

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`gradients against finite differences on ${backend}`, () => {
    const all = subjects();
    beforeAll(async () => {
      await tf.setBackend(backend);
    });
    afterAll(async () => {
      all.forEach((s) => s.dispose?.());
      await tf.setBackend('wasm');
    });
    it.each(all.map((s, i) => [s.label, i] as const))('%s', (_label, i) => {
      checkGradient(all[i]!, Rng.seeded(40 + i));
    });
  });
}
