import type { Batch } from '../data/batch.js';
import type { Dataset } from '../data/dataset.js';
import type { FeatureMlpArchitecture, FeatureMlpUpdateRule, FeatureMlpWeightName, FeatureMlpWeights } from '../l2o/featureMlp.js';
import type { Objective } from '../optimizee/objective.js';
import type { Rng } from '../tensor/rng.js';
import { evaluateFeatureMlp } from './featureMlpTrainer.js';

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
  /** Steps per episode: the last of `at`. */
  readonly steps: number;
  /** Steps at which the episode's score (mean log loss on the evaluation batch) is measured. */
  readonly at: readonly number[];
  readonly batchSize: number;
  /** How the episodes compute the updates (default: featureMlpUpdate's loop). */
  readonly update?: FeatureMlpUpdateRule;
}

/**
 * The episode's score: mean over `at` of the log loss of the parameters on `evalSet`
 * (Infinity if it diverged); the steps after the last of `at` change nothing, so they are not run.
 */
export function episodeScore(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  seed: number,
  s: EsSettings,
): number {
  return evaluateFeatureMlp(
    arch,
    w,
    objective,
    data,
    { score: evalSet },
    { episodes: 1, at: s.at, batchSize: s.batchSize, seed, ...(s.update === undefined ? {} : { update: s.update }) },
  ).score['score']!;
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
 * `scoreOf` scores an episode of the weights as they are (default: the learned optimizer alone,
 * episodeScore; src/meta/guardEpisode.ts: the loss guard with it).
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
  scoreOf: (seed: number) => number = (e) => episodeScore(arch, w, objective, data, evalSet, e, s),
): { plus: number; minus: number; grad: Float64Array | null } {
  const view = tunedView(w, s.tune);
  const theta = view.get();
  const eps = Float64Array.from(theta, () => rng.normal());
  view.set(theta.map((v, i) => v + s.sigma * eps[i]!));
  const plus = scoreOf(seed);
  view.set(theta.map((v, i) => v - s.sigma * eps[i]!));
  const minus = scoreOf(seed);
  view.set(theta);
  if (!Number.isFinite(plus) || !Number.isFinite(minus)) return { plus, minus, grad: null };
  const scale = (plus - minus) / (2 * s.sigma);
  return { plus, minus, grad: eps.map((e) => e * scale) };
}
