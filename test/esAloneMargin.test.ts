import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { BatchSampler, BATCH_SEED_OFFSET } from '../src/data/sampler.js';
import { FEATURE_MLP_ARCHITECTURE as ARCH, adamLikeWeights } from '../src/l2o/featureMlp.js';
import { episodeLosses, sgdnmEpisodeLosses, shortfall } from '../src/meta/featureMlpEs.js';
import { evaluate } from '../src/optimizee/evaluate.js';
import { trainSubset } from '../src/runs/trainEvaluator.js';
import { loadTask } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { sgdnmStepByHand } from './sgdnmByHand.js';

const task = loadTask('mlp-spirals', { seed: 0 });
if (E.isLeft(task)) throw task.left;
const { objective, splits } = task.right;
const evalSet = trainSubset(splits.train, 200);
const sgd = { lr: 3, tau: 50_000, power: 1.5 };

/** SGDnm written out on its own: x ← x − η0 (1 + t/τ)^(−1/p) ∇f_B(x), one fresh batch a step. */
function sgdnmByHand(seed: number, at: readonly number[]): number[] {
  const init = objective.init(Rng.seeded(seed));
  const x = init.dataSync().slice() as Float32Array;
  init.dispose();
  const sampler = new BatchSampler(splits.train, 32, seed + BATCH_SEED_OFFSET);
  const out: number[] = [];
  for (let t = 0; t < Math.max(...at); t++) {
    sgdnmStepByHand(objective, x, sampler.next(), t);
    if (at.includes(t + 1)) {
      const p = tf.tensor1d(x);
      out.push(evaluate(objective, p, evalSet).loss);
      p.dispose();
    }
  }
  return out;
}

describe('ES with the learned optimizer alone as a constraint (--alone-margin)', () => {
  it("SGDnm's episode losses are SGDnm's own run from the episode's initial point and batches", () => {
    const at = [1, 5, 12];
    const got = sgdnmEpisodeLosses(objective, splits.train, evalSet, 4, at, 32, sgd);
    const want = sgdnmByHand(4, at);
    got.forEach((l, i) => expect(l).toBeCloseTo(want[i]!, 6));
    expect(got[2]).toBeLessThan(got[0]!);
  });

  it('the learned optimizer and SGDnm start an episode from the same point', () => {
    // Adam-like steps of 1e-5 (near the smallest a feature-MLP takes) and SGDnm's of 1e-12 barely move either.
    const still = adamLikeWeights(ARCH, Rng.seeded(1), 1e-5);
    const own = episodeLosses(ARCH, still, objective, splits.train, evalSet, 9, { tune: [], sigma: 0, lr: 0, steps: 3, at: [3], batchSize: 32 });
    const ref = sgdnmEpisodeLosses(objective, splits.train, evalSet, 9, [3], 32, { ...sgd, lr: 1e-12 });
    expect(own[0]).toBeCloseTo(ref[0]!, 3);
  });

  it('the shortfall counts only the steps above the reference less the margin (hand-worked)', () => {
    // log(1/2) + 0.1 < 0 → 0; log(2/2) + 0.1 = 0.1; log(4/2) + 0.1 = 0.7931
    expect(shortfall([1, 2, 4], [2, 2, 2], 0.1)).toBeCloseTo((0.1 + Math.log(2) + 0.1) / 3, 12);
    expect(shortfall([1, 1.5], [2, 2], 0.05)).toBe(0);
    expect(shortfall([1, NaN], [2, 2], 0)).toBe(Infinity);
    expect(shortfall([1, Infinity], [2, 2], 0)).toBe(Infinity);
    expect(() => shortfall([1], [2, 2], 0)).toThrow('shortfall: 1 losses against 2 reference losses');
  });
});
