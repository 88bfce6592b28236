import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { FEATURE_MLP_ARCHITECTURE as ARCH, adamLikeWeights, type FeatureMlpWeights } from '../src/l2o/featureMlp.js';
import { esPair, tunedView } from '../src/meta/featureMlpEs.js';
import { flatten, metaTrainEpisode, type MetaAdam } from '../src/meta/featureMlpTrainer.js';
import { trainSubset } from '../src/runs/trainEvaluator.js';
import { loadTask } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';

// The meta-training signals on a case with a known answer: from Adam with a step far too small
// (1e-5) every step size helps, so both the first-order meta-gradient and the evolution
// strategies' estimate must raise the log step's constant b_s.
const task = loadTask('mlp-spirals', { seed: 0 });
if (E.isLeft(task)) throw task.left;
const { objective, splits } = task.right;
const tiny = (): FeatureMlpWeights => adamLikeWeights(ARCH, Rng.seeded(1), 1e-5);
const zeroAdam = (n: number): MetaAdam => ({ m: new Float64Array(n), v: new Float64Array(n), t: 0 });

describe('feature-MLP meta-training', () => {
  it('the windowed first-order meta-gradient raises a step size that is far too small', () => {
    const w = tiny();
    const before = w.bs[0]!;
    const settings = { episodeSteps: [40], window: 20, metaLr: 0.01, clip: 1, batchSize: 32, seed: 0 };
    const report = metaTrainEpisode(ARCH, w, zeroAdam(flatten(w).length), objective, splits.train, settings, 11, 40);
    expect(report.metaSteps).toBe(2);
    expect(report.diverged).toBe(false);
    // Adam's first two steps move each weight by about metaLr in its gradient's direction.
    expect(w.bs[0]! - before).toBeGreaterThan(0.015);
  });

  it('meta-step 0 leaves the weights as they were, and frozen weights never move', () => {
    const w = tiny();
    const start = flatten(w);
    metaTrainEpisode(
      ARCH,
      w,
      zeroAdam(start.length),
      objective,
      splits.train,
      { episodeSteps: [20], window: 10, metaLr: 0, clip: 1, batchSize: 32, seed: 0 },
      12,
      20,
    );
    expect(flatten(w)).toEqual(start);
    const settings = { episodeSteps: [20], window: 10, metaLr: 0.01, clip: 1, batchSize: 32, seed: 0, freeze: ['bs', 'us', 'c'] as const };
    metaTrainEpisode(ARCH, w, zeroAdam(start.length), objective, splits.train, settings, 12, 20);
    expect(Array.from(w.bs)).toEqual(Array.from(tiny().bs));
    expect(Array.from(w.c)).toEqual(Array.from(tiny().c));
    expect(flatten(w)).not.toEqual(start);
  });

  it("an antithetic pair's estimate points to a larger step, and the weights come back unchanged", () => {
    const w = tiny();
    const start = flatten(w);
    const s = { tune: ['bs'] as const, sigma: 0.5, lr: 0.02, steps: 30, at: [10, 30], batchSize: 32 };
    const evalSet = trainSubset(splits.train, 200);
    const r = esPair(ARCH, w, objective, splits.train, evalSet, s, 5, Rng.seeded(9));
    expect(flatten(w)).toEqual(start);
    expect(r.grad).not.toBeNull();
    // The estimate is a descent direction for the score: a step against it lowers the loss, i.e. raises b_s.
    expect(r.grad![0]!).toBeLessThan(0);
    expect(Math.min(r.plus, r.minus)).toBeLessThan(Math.max(r.plus, r.minus));
    expect(tunedView(w, ['bs', 'us']).get()).toHaveLength(1 + ARCH.timescales.length);
  });
});
