import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../tensor/rng.js';
import type { Objective, TensorBatch } from './objective.js';

/**
 * The deterministic quadratic f(x) = ½ (x − x*)ᵀ A (x − x*) with A = Qᵀ diag(λ) Q, λ in [μ, L].
 * Batches are ignored: the loss is exact (theory mode of docs/algorithms.md §4).
 */
export interface ExactQuadratic extends Objective {
  readonly mu: number;
  readonly L: number;
  readonly minimum: Float64Array;
  readonly eigenvalues: Float64Array;
  /** f(x) in float64 from a float32 parameter vector. */
  exactLoss(x: Float32Array): number;
  /** ‖∇f(x)‖² in float64. */
  exactGradNormSq(x: Float32Array): number;
  /** Frees the tensors the problem holds. */
  dispose(): void;
}

/** A random orthogonal matrix (Gram–Schmidt of a Gaussian matrix), row-major float64. */
function randomOrthogonal(d: number, rng: Rng): Float64Array {
  const q = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (;;) {
      for (let j = 0; j < d; j++) q[i * d + j] = rng.normal();
      for (let p = 0; p < i; p++) {
        let dot = 0;
        for (let j = 0; j < d; j++) dot += q[i * d + j]! * q[p * d + j]!;
        for (let j = 0; j < d; j++) q[i * d + j]! -= dot * q[p * d + j]!;
      }
      let norm = 0;
      for (let j = 0; j < d; j++) norm += q[i * d + j]! ** 2;
      norm = Math.sqrt(norm);
      if (norm > 1e-6) {
        for (let j = 0; j < d; j++) q[i * d + j]! /= norm;
        break;
      }
    }
  }
  return q;
}

export interface ExactQuadraticOptions {
  readonly dim: number;
  readonly mu: number;
  readonly L: number;
  /** Explicit eigenvalues in [mu, L]; default: mu, L and the rest uniform between. */
  readonly eigenvalues?: readonly number[];
  /** Scale of the minimiser x* and of the initial point. */
  readonly scale?: number;
}

export function exactQuadratic(opts: ExactQuadraticOptions, rng: Rng): ExactQuadratic {
  const { dim: d, mu, L, scale = 1 } = opts;
  if (!(mu > 0 && L >= mu)) throw new RangeError(`exactQuadratic: need 0 < mu ≤ L, got mu=${mu}, L=${L}`);
  const lambda = new Float64Array(d);
  for (let i = 0; i < d; i++) lambda[i] = opts.eigenvalues?.[i] ?? (i === 0 ? mu : i === d - 1 ? L : rng.between(mu, L));
  const q = randomOrthogonal(d, rng);
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++)
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let p = 0; p < d; p++) s += q[p * d + i]! * lambda[p]! * q[p * d + j]!;
      a[i * d + j] = s;
    }
  const xStar = new Float64Array(d);
  for (let i = 0; i < d; i++) xStar[i] = scale * rng.normal();
  const aTensor = tf.tensor2d(Float32Array.from(a), [d, d]);
  const xStarTensor = tf.tensor1d(Float32Array.from(xStar));
  tf.keep(aTensor);
  tf.keep(xStarTensor);

  const lossOf = (x: tf.Tensor1D): tf.Scalar =>
    tf.tidy(() => {
      const e = x.sub(xStarTensor).reshape([d, 1]);
      return tf.matMul(e, tf.matMul(aTensor, e), true, false).reshape([]).mul(0.5) as tf.Scalar;
    });
  const residual = (x: Float32Array): Float64Array => {
    const r = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += a[i * d + j]! * (x[j]! - xStar[j]!);
      r[i] = s;
    }
    return r;
  };
  return {
    name: `quadratic-exact-${d}`,
    size: d,
    mu,
    L,
    minimum: xStar,
    eigenvalues: lambda,
    init: (r: Rng) => {
      const x = new Float32Array(d);
      for (let i = 0; i < d; i++) x[i] = xStar[i]! + scale * r.normal();
      return tf.tensor1d(x);
    },
    perExampleLoss: (x) => tf.tidy(() => lossOf(x).reshape([1]) as tf.Tensor1D),
    lossAndGrad: (x: tf.Tensor1D, _batch: TensorBatch) => {
      const loss = lossOf(x);
      const grad = tf.tidy(() => tf.matMul(aTensor, x.sub(xStarTensor).reshape([d, 1])).reshape([d]) as tf.Tensor1D);
      return { loss, grad };
    },
    exactLoss: (x) => {
      const r = residual(x);
      let s = 0;
      for (let i = 0; i < d; i++) s += (x[i]! - xStar[i]!) * r[i]!;
      return 0.5 * s;
    },
    exactGradNormSq: (x) => residual(x).reduce((acc, v) => acc + v * v, 0),
    dispose: () => {
      aTensor.dispose();
      xStarTensor.dispose();
    },
  };
}

/**
 * The stochastic least-squares task f_B(x) = ½ mean_{i∈B} (w_i·x − y_i)²: batches carry the
 * rows w_i (features) and targets y_i. Convex; its data comes from `leastSquaresData`.
 */
export function leastSquares(dim: number): Objective {
  const perExample = (x: tf.Tensor1D, b: TensorBatch): tf.Tensor1D =>
    tf.tidy(
      () =>
        tf
          .matMul(b.x as tf.Tensor2D, x.reshape([dim, 1]))
          .reshape([b.size])
          .sub(b.y)
          .square()
          .mul(0.5) as tf.Tensor1D,
    );
  return {
    name: `quadratic-${dim}`,
    size: dim,
    init: (rng) => tf.tensor1d(Float32Array.from({ length: dim }, () => rng.normal())),
    perExampleLoss: perExample,
    lossAndGrad: (x, b) =>
      tf.tidy(() => {
        const w = b.x as tf.Tensor2D;
        const r = tf
          .matMul(w, x.reshape([dim, 1]))
          .reshape([b.size])
          .sub(b.y);
        const loss = r.square().mean().mul(0.5) as tf.Scalar;
        const grad = tf
          .matMul(r.reshape([1, b.size]), w)
          .reshape([dim])
          .div(b.size) as tf.Tensor1D;
        return { loss, grad };
      }),
  };
}
