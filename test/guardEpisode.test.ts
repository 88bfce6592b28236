import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { BatchSampler, BATCH_SEED_OFFSET } from '../src/data/sampler.js';
import { FEATURE_MLP_ARCHITECTURE as ARCH, adamLikeWeights } from '../src/l2o/featureMlp.js';
import { guardEpisodeScore, type GuardEpisodeSettings } from '../src/meta/guardEpisode.js';
import { evaluate } from '../src/optimizee/evaluate.js';
import { trainSubset } from '../src/runs/trainEvaluator.js';
import { loadTask } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { sgdnmStepByHand } from './sgdnmByHand.js';

const task = loadTask('mlp-spirals', { seed: 0 });
if (E.isLeft(task)) throw task.left;
const { objective, splits } = task.right;
const evalSet = trainSubset(splits.train, 200);
const guard: GuardEpisodeSettings = { k: 5, m: 4, rule: 'strict', alpha: 0.05, sgd: { lr: 3, tau: 50_000, power: 1.5 } };
const at = [5, 15, 30];

/** SGDnm's own run written out independently: k training batches a round, then m comparison batches it never trains on. */
function sgdnmScore(seed: number): number {
  const init = objective.init(Rng.seeded(seed));
  const x = init.dataSync().slice() as Float32Array;
  init.dispose();
  const sampler = new BatchSampler(splits.train, 32, seed + BATCH_SEED_OFFSET);
  let logSum = 0;
  for (let t = 0; t < 30;) {
    for (let i = 0; i < guard.k; i++, t++) {
      sgdnmStepByHand(objective, x, sampler.next(), t);
    }
    for (let j = 0; j < guard.m; j++) sampler.next();
    if (at.includes(t)) {
      const params = tf.tensor1d(x);
      logSum += Math.log(evaluate(objective, params, evalSet).loss);
      params.dispose();
    }
  }
  return logSum / at.length;
}

describe('the anchored guard as an ES episode', () => {
  it('a learned optimizer that never wins leaves the guard on SGDnm’s own run (docs/algorithms.md §4b)', () => {
    // A non-finite step: the learned candidate loses every round, and SGDnm's candidate, from the anchor's own point, ties with it.
    const broken = adamLikeWeights(ARCH, Rng.seeded(1), 1e-3);
    broken.bs[0] = NaN;
    const score = guardEpisodeScore(ARCH, broken, objective, splits.train, evalSet, 3, at, 32, guard);
    expect(score).toBeCloseTo(sgdnmScore(3), 10);
  });

  it('a useful learned optimizer changes the guarded run', () => {
    const useful = adamLikeWeights(ARCH, Rng.seeded(1), 0.05);
    const score = guardEpisodeScore(ARCH, useful, objective, splits.train, evalSet, 3, at, 32, guard);
    expect(Number.isFinite(score)).toBe(true);
    expect(Math.abs(score - sgdnmScore(3))).toBeGreaterThan(1e-4);
  });

  it('refuses scoring steps that do not end a round', () => {
    const w = adamLikeWeights(ARCH, Rng.seeded(1), 1e-3);
    expect(() => guardEpisodeScore(ARCH, w, objective, splits.train, evalSet, 3, [5, 12], 32, guard)).toThrow(
      'every step of at (5,12) must be a multiple of k = 5',
    );
  });
});
