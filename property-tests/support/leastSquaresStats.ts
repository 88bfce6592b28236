import type { Dataset } from '../../src/data/dataset.js';
import type { Batch } from '../../src/data/batch.js';
import { symmetricEigen } from './linalg.js';

/**
 * Exact (float64) facts about the training objective f(x) = ½ mean_i (w_i·x − y_i)² of the
 * stochastic quadratic task: its Hessian H = WᵀW/N, strong convexity μ = λ_min(H),
 * smoothness L = λ_max(H), minimiser x̂ = H⁻¹Wᵀy/N, minimum f*, and R² = max_i ‖w_i‖², which
 * bounds the smoothness of every mini-batch loss (H_B = mean_{i∈B} w_i w_iᵀ ≼ R²·I).
 */
export interface LeastSquaresStats {
  readonly dim: number;
  readonly count: number;
  readonly mu: number;
  readonly L: number;
  readonly R2: number;
  readonly minimiser: Float64Array;
  readonly fStar: number;
  /** f(x). */
  loss(x: ArrayLike<number>): number;
  /** ½ (w_i·x − y_i)² for every training example. */
  perExample(x: ArrayLike<number>): Float64Array;
  /**
   * Worst-case float32 error of each example's loss as tfjs computes it: the residual is a
   * length-d dot product minus y_i, off by at most γ_{d+1}·(Σ_j |w_ij x_j| + |y_i|), and
   * squaring and halving add one rounding each. Returns the largest over the examples.
   */
  float32LossError(x: ArrayLike<number>): number;
}

export function leastSquaresStats(ds: Dataset): LeastSquaresStats {
  const d = ds.shape.reduce((a, b) => a * b, 1);
  const n = ds.count;
  const h = new Float64Array(d * d);
  const wty = new Float64Array(d);
  let R2 = 0;
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) {
      const wj = ds.x[i * d + j]!;
      sq += wj * wj;
      wty[j]! += (wj * ds.y[i]!) / n;
      for (let k = 0; k < d; k++) h[j * d + k]! += (wj * ds.x[i * d + k]!) / n;
    }
    R2 = Math.max(R2, sq);
  }
  const { values, vectors } = symmetricEigen(h, d);
  const minimiser = new Float64Array(d);
  for (let p = 0; p < d; p++) {
    let proj = 0;
    for (let j = 0; j < d; j++) proj += vectors[j * d + p]! * wty[j]!;
    for (let j = 0; j < d; j++) minimiser[j]! += (vectors[j * d + p]! * proj) / values[p]!;
  }
  const residual = (x: ArrayLike<number>, i: number) => {
    let s = -ds.y[i]!;
    for (let j = 0; j < d; j++) s += ds.x[i * d + j]! * x[j]!;
    return s;
  };
  const perExample = (x: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => residual(x, i) ** 2 / 2);
  const loss = (x: ArrayLike<number>) => perExample(x).reduce((a, b) => a + b, 0) / n;
  const u = 2 ** -24;
  const gamma = ((d + 1) * u) / (1 - (d + 1) * u);
  return {
    dim: d,
    count: n,
    mu: Math.min(...values),
    L: Math.max(...values),
    R2,
    minimiser,
    fStar: loss(minimiser),
    loss,
    perExample,
    float32LossError: (x) => {
      let worst = 0;
      for (let i = 0; i < n; i++) {
        let mag = Math.abs(ds.y[i]!);
        for (let j = 0; j < d; j++) mag += Math.abs(ds.x[i * d + j]! * x[j]!);
        const e = gamma * mag;
        const r = Math.abs(residual(x, i));
        worst = Math.max(worst, r * e + (e * e) / 2 + 2 * u * ((r + e) ** 2 / 2));
      }
      return worst;
    },
  };
}

/** One float64 SGD step on a mini-batch: x − η·mean_{i∈B} w_i (w_i·x − y_i). */
export function sgdStep64(x: ArrayLike<number>, batch: Batch, lr: number): Float64Array {
  const d = x.length;
  const g = new Float64Array(d);
  for (let i = 0; i < batch.size; i++) {
    let r = -batch.y[i]!;
    for (let j = 0; j < d; j++) r += batch.x[i * d + j]! * x[j]!;
    for (let j = 0; j < d; j++) g[j]! += (batch.x[i * d + j]! * r) / batch.size;
  }
  return Float64Array.from(x, (v, j) => v - lr * g[j]!);
}
