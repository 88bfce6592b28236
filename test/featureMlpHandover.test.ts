import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { FEATURE_MLP_ARCHITECTURE as ARCH, adamLikeWeights } from '../src/l2o/featureMlp.js';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { handoverShare } from '../src/l2o/featureMlpHandover.js';
import { learnedOptimizer } from '../src/l2o/learned.js';
import { decodeCheckpoint, encodeCheckpoint, isFeatureMlpCheckpoint } from '../src/l2o/weightsCodec.js';
import { adam } from '../src/optim/adam.js';
import type { AnyOptimizer } from '../src/optim/optimizer.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';

const P = 10;
const STEPS = 30;

/** A fixed gradient sequence: every optimizer's moments see the same history. */
const gradients = (() => {
  const rng = Rng.seeded(5);
  return Array.from({ length: STEPS }, () => Float32Array.from({ length: P }, () => rng.normal()));
})();

/** The update of each step (x_n − x_{n−1}) of an optimizer fed `gradients` from x = 0. */
function updates(opt: AnyOptimizer): Float32Array[] {
  let x = tf.zeros([P]) as tf.Tensor1D;
  let state = opt.init(x);
  const out: Float32Array[] = [];
  for (const g of gradients) {
    const gt = tf.tensor1d(g);
    const [next, nextState] = opt.step(x, gt, state);
    const before = x.dataSync();
    out.push(Float32Array.from(next.dataSync(), (v, i) => v - before[i]!));
    disposeReplaced([x, state, gt], [next, nextState]);
    [x, state] = [next, nextState];
  }
  disposeAll([x, state]);
  return out;
}

/** The log-step bias b_s of adamLikeWeights(lr), and the step a b_s gives: α·exp(S·tanh(b_s / S)). */
const S = ARCH.logStepBound;
const biasOf = (lr: number) => S * Math.atanh(Math.log(lr / ARCH.alpha) / S);
const stepOf = (bs: number) => ARCH.alpha * Math.exp(S * Math.tanh(bs / S));

const checkpointJson = (handover: unknown) => ({
  ...(encodeFeatureMlpCheckpoint(ARCH, adamLikeWeights(ARCH, Rng.seeded(1), 0.01), { note: 'test' }) as object),
  handover,
});
const lateJson = () => (encodeFeatureMlpCheckpoint(ARCH, adamLikeWeights(ARCH, Rng.seeded(2), 0.05), {}) as { weights: unknown }).weights;

function decoded(handover: unknown) {
  const ck = decodeCheckpoint(checkpointJson(handover), 'ho.json');
  if (E.isLeft(ck)) throw ck.left;
  return ck.right;
}

describe('the feature-MLP handover', () => {
  it('shares the steps: none up to from, all from to on, linear between', () => {
    const h = { from: 100, to: 200 };
    expect([0, 1, 100, 125, 150, 199, 200, 5000].map((n) => handoverShare(h, n))).toEqual([0, 0, 0, 0.25, 0.5, 0.99, 1, 1]);
  });

  it("steps as Adam at the early weights' rate, then at the mixed bias's, then at the late rate", () => {
    // Adam-like weights: the update is −step(b_s) · m̂/(√v̂ + ε), whatever the hidden layer (w_d = w_s = 0).
    const ck = decoded({ from: 10, to: 20, weights: lateJson() });
    const got = updates(learnedOptimizer(ck));
    const unit = updates(adam({ lr: 1 })); // m̂/(√v̂ + ε) of each step, the same history
    got.forEach((u, i) => {
      const n = i + 1;
      const t = Math.min(1, Math.max(0, (n - 10) / 10));
      const rate = stepOf((1 - t) * biasOf(0.01) + t * biasOf(0.05));
      // adam({lr: 1}) moves by −m̂/(√v̂ + ε): the learned optimizer by `rate` times that.
      u.forEach((v, j) => expect(Math.abs(v - rate * unit[i]![j]!), `step ${n}, coordinate ${j}`).toBeLessThan(1e-6));
    });
    // The three phases really differ: 5× the rate after the handover.
    expect(Math.abs(got[25]![0]! / unit[25]![0]!) / Math.abs(got[5]![0]! / unit[5]![0]!)).toBeCloseTo(5, 3);
  });

  it('round-trips through encodeCheckpoint and decodeCheckpoint', () => {
    const ck = decoded({ from: 500, to: 600, weights: lateJson() });
    expect(isFeatureMlpCheckpoint(ck) && ck.handover?.from).toBe(500);
    const again = decodeCheckpoint(JSON.parse(JSON.stringify(encodeCheckpoint(ck))), 'again.json');
    if (E.isLeft(again)) throw again.left;
    expect(again.right).toEqual(ck);
    const plain = decodeCheckpoint(encodeFeatureMlpCheckpoint(ARCH, adamLikeWeights(ARCH, Rng.seeded(1)), {}), 'plain.json');
    expect(E.isRight(plain) && 'handover' in plain.right).toBe(false);
  });

  it.each([
    [{ from: 600, to: 500, weights: {} }, 'ho.json: handover: "to" (500) must be after "from" (600)'],
    [{ from: -1, to: 500, weights: {} }, 'ho.json: handover: from: expected an integer in [0, 1000000000], got -1'],
    [{ from: 1, to: 500 }, 'ho.json: handover: weights: expected'],
    ['x', 'ho.json: handover: (top level): expected Handover, got "x"'],
    [{ from: 1, to: 500, weights: { ...(lateJson() as object), c: { shape: [4], data: [0, 0, 0, 0] } } }, 'handover.weights.c: expected shape [5], got [4]'],
    [
      { from: 1, to: 500, weights: { ...(lateJson() as object), bs: { shape: [1], data: [1e39] } } },
      'handover.weights.bs.data[0]: 1e+39 is not finite as float32',
    ],
  ])('refuses a bad handover %#, saying where', (handover, message) => {
    const ck = decodeCheckpoint(checkpointJson(handover), 'ho.json');
    expect(E.isLeft(ck) && ck.left.message).toContain(message);
  });

  it('refuses a handover on an LSTM checkpoint', () => {
    const lstm = { format: 'lgl2o/l2o', version: 1, architecture: { hidden: 1, layers: 1, preprocP: 10, outScale: 0.1 }, weights: {}, handover: {} };
    const ck = decodeCheckpoint(lstm, 'lstm.json');
    expect(E.isLeft(ck) && ck.left.message).toContain('lstm.json: handover: only a feature-MLP checkpoint hands over to other weights');
  });
});
