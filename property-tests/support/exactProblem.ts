import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { disposeTensorBatch, EMPTY_BATCH, toTensorBatch } from '../../src/optimizee/tensorBatch.js';
import type { TensorBatch } from '../../src/optimizee/objective.js';
import { exactQuadratic, type ExactQuadratic } from '../../src/optimizee/quadratic.js';
import { Rng } from '../../src/tensor/rng.js';
import { matVec, norm, symmetricEigen } from './linalg.js';

/** How the eigenvalues fill [μ, L]: exactQuadratic's default (uniform), two clusters at the ends, or log-uniform. */
export type Spectrum = 'uniform' | 'ends' | 'logUniform';

/** A random μ-strongly convex, L-smooth quadratic of theory mode, as fast-check draws it. */
export interface ProblemSpec {
  readonly dim: number;
  /** log10 of the condition number L/μ, in [0, 3]. */
  readonly log10Kappa: number;
  readonly L: number;
  /** log10 of the scale of x* and of x0 − x*. */
  readonly log10Scale: number;
  readonly spectrum: Spectrum;
  readonly seed: number;
}

export function problemSpecs(opts: { minDim?: number; maxDim?: number } = {}): fc.Arbitrary<ProblemSpec> {
  return fc.record({
    dim: fc.integer({ min: opts.minDim ?? 2, max: opts.maxDim ?? 64 }),
    log10Kappa: fc.double({ min: 0, max: 3, noNaN: true }),
    L: fc.double({ min: 0.01, max: 100, noNaN: true }),
    log10Scale: fc.double({ min: -2, max: 2, noNaN: true }),
    spectrum: fc.constantFrom<Spectrum>('uniform', 'ends', 'logUniform'),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
}

/** The quadratic with its start point and float64 views of what the float32 code computes. */
export interface TheoryProblem {
  readonly q: ExactQuadratic;
  readonly dim: number;
  readonly mu: number;
  readonly L: number;
  readonly kappa: number;
  /** The start x0 (owned by the problem). */
  readonly x0: tf.Tensor1D;
  /** The batch of theory mode: empty, ignored by the exact quadratic (owned by the problem). */
  readonly batch: TensorBatch;
  readonly minimumNorm: number;
  /** x* as float32, as the tensors hold it. */
  readonly minimum32: Float32Array;
  /** f(x) = ½ (x − x*)ᵀ A (x − x*) in float64, f* = 0. */
  f(x: ArrayLike<number>): number;
  gradNormSq(x: Float32Array): number;
  /** The float32 matrix A₃₂ the tensors hold, read back through gradients (computed once). */
  matrix32(): Float64Array;
  /** A unit eigenvector of A₃₂ for its smallest eigenvalue: the flattest direction (computed once). */
  flatDirection(): Float64Array;
  dispose(): void;
}

function eigenvalues(spec: ProblemSpec, mu: number, rng: Rng): number[] | undefined {
  const { dim: d, L, spectrum } = spec;
  if (spectrum === 'uniform') return undefined; // exactQuadratic's own: μ, L and uniform between
  return Array.from({ length: d }, (_, i) => {
    if (i === 0) return mu;
    if (i === d - 1) return L;
    return spectrum === 'ends' ? (i % 2 === 0 ? mu : L) : mu * (L / mu) ** rng.uniform();
  });
}

export function buildProblem(spec: ProblemSpec): TheoryProblem {
  const rng = Rng.seeded(spec.seed);
  const kappa = 10 ** spec.log10Kappa;
  const mu = spec.L / kappa;
  const values = eigenvalues(spec, mu, rng);
  const q = exactQuadratic({ dim: spec.dim, mu, L: spec.L, scale: 10 ** spec.log10Scale, ...(values ? { eigenvalues: values } : {}) }, rng);
  const x0 = q.init(rng);
  const batch = toTensorBatch([EMPTY_BATCH]);
  const minimum32 = Float32Array.from(q.minimum);
  let a32: Float64Array | undefined;
  let flat: Float64Array | undefined;

  const matrix32 = (): Float64Array => {
    if (a32) return a32;
    const d = spec.dim;
    const a = new Float64Array(d * d);
    for (let j = 0; j < d; j++) {
      // ∇f at x*₃₂ + s·e_j is A₃₂ · fl(x − x*₃₂): one nonzero coordinate, so column j of A₃₂ times it.
      const x = minimum32.slice();
      x[j] = Math.fround(x[j]! + Math.max(1, Math.abs(x[j]!)));
      const step = Math.fround(x[j]! - minimum32[j]!);
      const xt = tf.tensor1d(x);
      const { loss, grad } = q.lossAndGrad(xt, batch);
      const g = grad.dataSync();
      for (let i = 0; i < d; i++) a[i * d + j] = g[i]! / step;
      tf.dispose([xt, loss, grad]);
    }
    // symmetrise the readback (each entry is exact up to one float32 rounding of the product)
    for (let i = 0; i < d; i++)
      for (let j = i + 1; j < d; j++) {
        const m = (a[i * d + j]! + a[j * d + i]!) / 2;
        a[i * d + j] = m;
        a[j * d + i] = m;
      }
    return (a32 = a);
  };

  return {
    q,
    dim: spec.dim,
    mu,
    L: spec.L,
    kappa,
    x0,
    batch,
    minimumNorm: norm(q.minimum),
    minimum32,
    f: (x) => q.exactLoss(x instanceof Float32Array ? x : Float32Array.from(x)),
    gradNormSq: (x) => q.exactGradNormSq(x),
    matrix32,
    flatDirection: () => {
      if (flat) return flat;
      const d = spec.dim;
      const { values: lambda, vectors } = symmetricEigen(matrix32(), d);
      let k = 0;
      for (let i = 1; i < d; i++) if (lambda[i]! < lambda[k]!) k = i;
      return (flat = Float64Array.from({ length: d }, (_, i) => vectors[i * d + k]!));
    },
    dispose: () => {
      x0.dispose();
      disposeTensorBatch(batch);
      q.dispose();
    },
  };
}

/** One float64 gradient-descent step x − A₃₂(x − x*₃₂)/L: the fallback's step without float32 rounding. */
export function gdStep64(p: TheoryProblem, x: ArrayLike<number>): Float64Array {
  const e = Float64Array.from(x, (v, i) => v - p.minimum32[i]!);
  const g = matVec(p.matrix32(), e);
  return Float64Array.from(x, (v, i) => v - g[i]! / p.L);
}
