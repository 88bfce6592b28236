import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batch.js';
import type { Dataset } from '../data/dataset.js';
import { BatchSampler, BATCH_SEED_OFFSET } from '../data/sampler.js';
import { decide, type DecisionRule } from '../guard/decide.js';
import { batchLosses } from '../guard/round.js';
import {
  advanceFeatures,
  featureStride,
  featureMlpUpdate,
  zeroFeatureMlpState,
  type FeatureMlpArchitecture,
  type FeatureMlpUpdateRule,
  type FeatureMlpWeights,
} from '../l2o/featureMlp.js';
import { evaluate } from '../optimizee/evaluate.js';
import type { Objective } from '../optimizee/objective.js';
import { disposeTensorBatch, toTensorBatch } from '../optimizee/tensorBatch.js';
import { inversePower } from '../optim/schedule.js';
import { initialPoint, lossAndGrad } from './featureMlpTrainer.js';

/** The guard an ES episode runs: the anchored loss guard (docs/algorithms.md §4b) with SGDnm as fallback. */
export interface GuardEpisodeSettings {
  readonly k: number;
  readonly m: number;
  readonly rule: DecisionRule;
  readonly alpha: number;
  readonly sgd: { readonly lr: number; readonly tau: number; readonly power: number };
  /** How the learned optimizer's updates are computed (default: featureMlpUpdate's loop). */
  readonly update?: FeatureMlpUpdateRule;
}

function lossesOn(objective: Objective, x: Float32Array, batches: readonly Batch[]): number[] {
  const params = tf.tensor1d(x);
  const tbs = batches.map((b) => toTensorBatch([b]));
  const out = batchLosses(objective, params, tbs);
  tbs.forEach(disposeTensorBatch);
  params.dispose();
  return out;
}

/**
 * Mean over `at` of the log loss on `evalSet` of the anchored guard's point, the feature-MLP as its
 * learned optimizer (state kept across rounds, as `statePolicy: keep`), on one episode (seed):
 * the score of ES aimed at the guarded run rather than at the learned optimizer alone. Every step
 * of `at` must end a round (a multiple of k). Infinity if the guard diverged.
 */
export function guardEpisodeScore(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSet: Batch,
  seed: number,
  at: readonly number[],
  batchSize: number,
  g: GuardEpisodeSettings,
): number {
  if (at.some((s) => s % g.k !== 0)) throw new RangeError(`guardEpisodeScore: every step of at (${at.join(',')}) must be a multiple of k = ${g.k}`);
  let x = initialPoint(objective, seed);
  const P = x.length;
  const anchor = x.slice();
  const sampler = new BatchSampler(data, batchSize, seed + BATCH_SEED_OFFSET);
  const state = zeroFeatureMlpState(arch, P);
  const features = new Float32Array(P * featureStride(arch));
  const update = new Float32Array(P);
  const rate = inversePower(g.sgd.lr, g.sgd.tau, g.sgd.power);
  const updateRule = g.update ?? featureMlpUpdate;
  let logSum = 0;
  for (let t = 0; t < Math.max(...at);) {
    const learned = x.slice();
    const fallback = x.slice();
    for (let i = 0; i < g.k; i++, t++) {
      const batch = sampler.next();
      const time = advanceFeatures(arch, lossAndGrad(objective, learned, batch).grad, state, features);
      updateRule(arch, w, features, time, update);
      const eta = rate(t);
      const gF = lossAndGrad(objective, fallback, batch).grad;
      const gA = lossAndGrad(objective, anchor, batch).grad;
      for (let j = 0; j < P; j++) {
        learned[j]! += update[j]!;
        fallback[j]! -= eta * gF[j]!;
        anchor[j]! -= eta * gA[j]!;
      }
    }
    const comparison = Array.from({ length: g.m }, () => sampler.next());
    const d = decide(
      {
        learned: lossesOn(objective, learned, comparison),
        fallback: lossesOn(objective, fallback, comparison),
        anchor: lossesOn(objective, anchor, comparison),
      },
      g.rule,
      { alpha: g.alpha },
    );
    if (d.kind === 'diverged') return Infinity;
    x = d.winner === 'learned' ? learned : d.winner === 'fallback' ? fallback : anchor.slice();
    if (at.includes(t)) {
      const params = tf.tensor1d(x);
      logSum += Math.log(evaluate(objective, params, evalSet).loss);
      params.dispose();
    }
  }
  const score = logSum / at.length;
  return Number.isFinite(score) ? score : Infinity;
}
