import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batch.js';
import type { Dataset } from '../data/dataset.js';
import type { FeatureMlpArchitecture, FeatureMlpUpdateRule, FeatureMlpWeightName, FeatureMlpWeights } from '../l2o/featureMlp.js';
import type { Objective } from '../optimizee/objective.js';
import type { Rng } from '../tensor/rng.js';
import { BatchSampler, BATCH_SEED_OFFSET } from '../data/sampler.js';
import { evaluate } from '../optimizee/evaluate.js';
import { inversePower } from '../optim/schedule.js';
import { evaluateFeatureMlp, initialPoint, lossAndGrad } from './featureMlpTrainer.js';

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
  return meanLogLoss(episodeLosses(arch, w, objective, data, evalSet, seed, s));
}

/** Mean log of the losses, Infinity if any is not finite (a diverged run): ES's score of a run. */
export function meanLogLoss(losses: readonly number[]): number {
  const score = losses.reduce((a, l) => a + Math.log(l), 0) / losses.length;
  return Number.isFinite(score) ? score : Infinity;
}

/** The learned optimizer's own loss on `evalSet` at each step of `at` on one episode (seed), as `episodeScore` runs it. */
export function episodeLosses(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  seed: number,
  s: EsSettings,
): readonly number[] {
  return evaluateFeatureMlp(
    arch,
    w,
    objective,
    data,
    { score: evalSet },
    { episodes: 1, at: s.at, batchSize: s.batchSize, seed, ...(s.update === undefined ? {} : { update: s.update }) },
  ).loss['score']!;
}

/**
 * SGDnm's own run on the episode `seed` of `episodeLosses` (the same initial point and batches):
 * its loss on `evalSet` at each step of `at`, the reference a learned optimizer must stay below.
 */
export function sgdnmEpisodeLosses(
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  seed: number,
  at: readonly number[],
  batchSize: number,
  sgd: { readonly lr: number; readonly tau: number; readonly power: number },
): number[] {
  const x = initialPoint(objective, seed);
  const sampler = new BatchSampler(data, batchSize, seed + BATCH_SEED_OFFSET);
  const rate = inversePower(sgd.lr, sgd.tau, sgd.power);
  const losses: number[] = [];
  const last = Math.max(...at);
  for (let t = 1; t <= last; t++) {
    const { grad } = lossAndGrad(objective, x, sampler.next());
    const eta = rate(t - 1);
    for (let i = 0; i < x.length; i++) x[i]! -= eta * grad[i]!;
    if (at.includes(t)) {
      const params = tf.tensor1d(x);
      losses.push(evaluate(objective, params, evalSet).loss);
      params.dispose();
    }
  }
  return losses;
}

/**
 * How far a run's losses are above a reference's, step by step: the mean of
 * max(0, log(loss / reference) + margin). 0 when the run is below the reference by at least the
 * factor e^−margin at every step; Infinity if the run diverged. A score that only asks "stay below".
 */
export function shortfall(losses: readonly number[], reference: readonly number[], margin: number): number {
  if (losses.length !== reference.length) throw new RangeError(`shortfall: ${losses.length} losses against ${reference.length} reference losses`);
  const sum = losses.reduce((a, l, i) => a + Math.max(0, Math.log(l / reference[i]!) + margin), 0);
  return Number.isFinite(sum) ? sum / losses.length : Infinity;
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
