import * as tf from '@tensorflow/tfjs';
import { BatchSampler, BATCH_SEED_OFFSET } from '../data/sampler.js';
import type { Batch } from '../data/batch.js';
import type { Dataset } from '../data/dataset.js';
import {
  advanceFeatures,
  featureCount,
  featureMlpUpdate,
  zeroFeatureMlpState,
  type FeatureMlpArchitecture,
  type FeatureMlpWeightName,
  type FeatureMlpWeights,
} from '../l2o/featureMlp.js';
import { evaluate } from '../optimizee/evaluate.js';
import type { Objective } from '../optimizee/objective.js';
import { disposeTensorBatch, toTensorBatch } from '../optimizee/tensorBatch.js';
import { Rng } from '../tensor/rng.js';

/**
 * Antithetic evolution strategies on whole episodes (docs/algorithms.md §3b): the first-order,
 * truncated meta-gradient cannot see how a step size acts hundreds of steps later; a
 * perturbation of the weights scored by the loss of a whole episode can. Unbiased for the
 * Gaussian-smoothed objective at any horizon, but noisy, so it tunes a few weights (the step
 * size's constant and time terms, the direction's linear part) rather than all of them.
 */
export interface EsSettings {
  /** Weights that are perturbed (the others stay as they are). */
  readonly tune: readonly FeatureMlpWeightName[];
  readonly sigma: number;
  readonly lr: number;
  /** Steps per episode. */
  readonly steps: number;
  /** Steps at which the episode's score (mean log loss on the evaluation batch) is measured. */
  readonly at: readonly number[];
  readonly batchSize: number;
}

/** The episode's score: mean over `at` of the log loss of the parameters on `evalSet` (Infinity if it diverged). */
export function episodeScore(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  seed: number,
  s: EsSettings,
): number {
  const init = objective.init(Rng.seeded(seed));
  const x = init.dataSync().slice() as Float32Array;
  init.dispose();
  const P = x.length;
  const sampler = new BatchSampler(data, s.batchSize, seed + BATCH_SEED_OFFSET);
  const state = zeroFeatureMlpState(arch, P);
  const features = new Float32Array(P * featureCount(arch));
  const update = new Float32Array(P);
  let sum = 0;
  for (let t = 1; t <= s.steps; t++) {
    const params = tf.tensor1d(x);
    const tb = toTensorBatch([sampler.next()]);
    const { loss, grad } = objective.lossAndGrad(params, tb);
    const g = grad.dataSync() as Float32Array;
    disposeTensorBatch(tb);
    tf.dispose([params, loss, grad]);
    const time = advanceFeatures(arch, g, state, features);
    featureMlpUpdate(arch, w, features, time, update);
    for (let i = 0; i < P; i++) x[i]! += update[i]!;
    if (s.at.includes(t)) {
      const p = tf.tensor1d(x);
      const l = evaluate(objective, p, evalSet).loss;
      p.dispose();
      if (!Number.isFinite(l)) return Infinity;
      sum += Math.log(l);
    }
  }
  return sum / s.at.length;
}

/** The tuned weights as one vector, and a way to write such a vector back. */
export function tunedView(w: FeatureMlpWeights, names: readonly FeatureMlpWeightName[]) {
  const get = (): Float64Array => Float64Array.from(names.flatMap((n) => Array.from(w[n])));
  const set = (v: ArrayLike<number>): void => {
    let o = 0;
    for (const n of names) for (let i = 0; i < w[n].length; i++) w[n][i] = v[o++]!;
  };
  return { get, set };
}

/**
 * One antithetic pair: scores at θ + σε and θ − σε on the same episode (seed), and the
 * gradient estimate (f₊ − f₋) / (2σ) · ε. A diverged side gives no estimate (null).
 */
export function esPair(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  s: EsSettings,
  seed: number,
  rng: Rng,
): { plus: number; minus: number; grad: Float64Array | null } {
  const view = tunedView(w, s.tune);
  const theta = view.get();
  const eps = Float64Array.from(theta, () => rng.normal());
  view.set(theta.map((v, i) => v + s.sigma * eps[i]!));
  const plus = episodeScore(arch, w, objective, data, evalSet, seed, s);
  view.set(theta.map((v, i) => v - s.sigma * eps[i]!));
  const minus = episodeScore(arch, w, objective, data, evalSet, seed, s);
  view.set(theta);
  if (!Number.isFinite(plus) || !Number.isFinite(minus)) return { plus, minus, grad: null };
  const scale = (plus - minus) / (2 * s.sigma);
  return { plus, minus, grad: eps.map((e) => e * scale) };
}
