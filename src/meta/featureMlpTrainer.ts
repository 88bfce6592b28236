import * as tf from '@tensorflow/tfjs';
import { BatchSampler, BATCH_SEED_OFFSET } from '../data/sampler.js';
import { gather, type Dataset } from '../data/dataset.js';
import type { Batch } from '../data/batch.js';
import {
  FEATURE_MLP_WEIGHT_NAMES,
  advanceFeatures,
  featureStride,
  featureMlpBackward,
  featureMlpUpdate,
  zeroFeatureMlpState,
  zeroFeatureMlpWeights,
  type FeatureMlpArchitecture,
  type FeatureMlpUpdateRule,
  type FeatureMlpWeightName,
  type FeatureMlpWeights,
} from '../l2o/featureMlp.js';
import { evaluate } from '../optimizee/evaluate.js';
import type { Objective } from '../optimizee/objective.js';
import { disposeTensorBatch, toTensorBatch } from '../optimizee/tensorBatch.js';
import { Rng } from '../tensor/rng.js';

/**
 * Meta-training of the feature-MLP learned optimizer (docs/algorithms.md §3b): episodes from
 * fresh initial points, the meta-loss of a window the sum of the log mini-batch losses after
 * each of its updates, first-order (the optimizee's gradients are inputs, not functions of the
 * weights) and truncated at the window's end. The optimizer has no recurrent state that
 * depends on its weights, so the meta-gradient needs no backpropagation through time: the
 * adjoint of the update at step s is the sum of ∇ log L_t over the window's later steps t.
 */
export interface FeatureMlpMetaSettings {
  /** Episode lengths, drawn uniformly per episode. */
  readonly episodeSteps: readonly number[];
  /** Updates per window (one meta-step per window). */
  readonly window: number;
  readonly metaLr: number;
  /** Largest meta-gradient norm (larger ones are scaled down). */
  readonly clip: number;
  readonly batchSize: number;
  readonly seed: number;
  /**
   * Fraction of the coordinates whose updates are differentiated per window, drawn at random
   * and weighted by its inverse: an unbiased estimate of the meta-gradient at a fraction of the
   * backward pass's cost (1: every coordinate).
   */
  readonly coordFraction?: number;
  /** Weights left as they are (their meta-gradient is dropped). */
  readonly freeze?: readonly FeatureMlpWeightName[];
}

/** Adam on the flat weight vector. */
export interface MetaAdam {
  readonly m: Float64Array;
  readonly v: Float64Array;
  t: number;
}

export function flatten(w: FeatureMlpWeights): Float64Array {
  const parts = FEATURE_MLP_WEIGHT_NAMES.map((n) => w[n]);
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function assign(w: FeatureMlpWeights, flat: ArrayLike<number>): void {
  let o = 0;
  for (const n of FEATURE_MLP_WEIGHT_NAMES) {
    const p = w[n];
    for (let i = 0; i < p.length; i++) p[i] = flat[o++]!;
  }
}

function adamStep(w: FeatureMlpWeights, grad: Float64Array, opt: MetaAdam, lr: number): void {
  const x = flatten(w);
  opt.t += 1;
  const c1 = 1 - Math.pow(0.9, opt.t);
  const c2 = 1 - Math.pow(0.999, opt.t);
  for (let i = 0; i < x.length; i++) {
    opt.m[i] = 0.9 * opt.m[i]! + 0.1 * grad[i]!;
    opt.v[i] = 0.999 * opt.v[i]! + 0.001 * grad[i]! * grad[i]!;
    x[i]! -= (lr * opt.m[i]!) / c1 / (Math.sqrt(opt.v[i]! / c2) + 1e-8);
  }
  assign(w, x);
}

export interface EpisodeReport {
  readonly steps: number;
  readonly metaSteps: number;
  /** Mean log mini-batch loss over the episode. */
  readonly meanLogLoss: number;
  readonly finalLoss: number;
  readonly meanGradNorm: number;
  /** Windows skipped for a non-finite meta-gradient. */
  readonly skipped: number;
  readonly diverged: boolean;
}

/** The task's initial parameters for a seed, as an array. */
export function initialPoint(objective: Objective, seed: number): Float32Array {
  const init = objective.init(Rng.seeded(seed));
  const x = init.dataSync().slice() as Float32Array;
  init.dispose();
  return x;
}

/** One mini-batch's loss and gradient at x (as arrays). */
export function lossAndGrad(objective: Objective, x: Float32Array, batch: Batch): { loss: number; grad: Float32Array } {
  const params = tf.tensor1d(x);
  const tb = toTensorBatch([batch]);
  const { loss, grad } = objective.lossAndGrad(params, tb);
  const out = { loss: loss.dataSync()[0]!, grad: grad.dataSync() as Float32Array };
  disposeTensorBatch(tb);
  tf.dispose([params, loss, grad]);
  return out;
}

/**
 * Runs one meta-training episode of `steps` updates from the initial point `x`, updating `w`
 * (and `opt`) after every window.
 */
export function metaTrainEpisode(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  opt: MetaAdam,
  objective: Objective,
  data: Dataset,
  s: FeatureMlpMetaSettings,
  episodeSeed: number,
  steps: number,
): EpisodeReport {
  const x = initialPoint(objective, episodeSeed);
  const P = x.length;
  const stride = featureStride(arch);
  const sampler = new BatchSampler(data, s.batchSize, episodeSeed + BATCH_SEED_OFFSET);
  const state = zeroFeatureMlpState(arch, P);
  const features = Array.from({ length: s.window }, () => new Float32Array(P * stride));
  const times: Float64Array[] = [];
  const scaledGrads = Array.from({ length: s.window }, () => new Float32Array(P));
  const update = new Float32Array(P);
  let pending = 0;
  let sumLog = 0;
  let finalLoss = NaN;
  let metaSteps = 0;
  let skipped = 0;
  let sumNorm = 0;
  const fraction = s.coordFraction ?? 1;
  const pick = Rng.seeded(episodeSeed + 7_919);
  const weight = new Float32Array(P).fill(1);
  let { grad } = lossAndGrad(objective, x, sampler.next());
  let loss: number;
  for (let t = 0; t < steps; t++) {
    const time = advanceFeatures(arch, grad, state, features[pending]!);
    times[pending] = time;
    featureMlpUpdate(arch, w, features[pending]!, time, update);
    for (let i = 0; i < P; i++) x[i]! += update[i]!;
    ({ loss, grad } = lossAndGrad(objective, x, sampler.next()));
    if (!Number.isFinite(loss))
      return { steps: t + 1, metaSteps, meanLogLoss: Infinity, finalLoss: loss, meanGradNorm: sumNorm / Math.max(1, metaSteps), skipped, diverged: true };
    sumLog += Math.log(loss);
    finalLoss = loss;
    const scaled = scaledGrads[pending]!;
    for (let i = 0; i < P; i++) scaled[i] = grad[i]! / loss;
    pending += 1;
    if (pending === s.window || t === steps - 1) {
      const g = zeroFeatureMlpWeights(arch);
      const adjoint = new Float32Array(P);
      if (fraction < 1) for (let i = 0; i < P; i++) weight[i] = pick.uniform() < fraction ? 1 / fraction : 0;
      const weighted = new Float32Array(P);
      for (let k = pending - 1; k >= 0; k--) {
        const sg = scaledGrads[k]!;
        for (let i = 0; i < P; i++) adjoint[i]! += sg[i]!;
        for (let i = 0; i < P; i++) weighted[i] = adjoint[i]! * weight[i]!;
        featureMlpBackward(arch, w, features[k]!, times[k]!, weighted, g);
      }
      for (const name of s.freeze ?? []) g[name].fill(0);
      const flat = flatten(g);
      const norm = Math.sqrt(flat.reduce((a, v) => a + v * v, 0));
      if (Number.isFinite(norm)) {
        if (s.clip > 0 && norm > s.clip) for (let i = 0; i < flat.length; i++) flat[i]! *= s.clip / norm;
        adamStep(w, flat, opt, s.metaLr);
        sumNorm += norm;
        metaSteps += 1;
      } else skipped += 1;
      pending = 0;
    }
  }
  return { steps, metaSteps, meanLogLoss: sumLog / steps, finalLoss, meanGradNorm: sumNorm / Math.max(1, metaSteps), skipped, diverged: false };
}

/**
 * The training examples that select checkpoints: 2,000 spread evenly over the training split,
 * offset by half a stride from the experiments' fixed subset (`trainSubset`), so selection
 * never reads the examples the reports are measured on.
 */
export function selectionSubset(train: Dataset, size = 2000): Batch {
  const stride = Math.floor(train.count / size);
  return gather(
    train,
    Array.from({ length: size }, (_, i) => i * stride + Math.floor(stride / 2)),
  );
}

export interface EvalCurve {
  readonly at: readonly number[];
  /** Mean over episodes of the loss on each evaluation set at each step of `at`. */
  readonly loss: Readonly<Record<string, readonly number[]>>;
  /** Per evaluation set, the mean over `at` of the log loss (lower is better; Infinity if any episode diverged). */
  readonly score: Readonly<Record<string, number>>;
}

/** Runs the learned optimizer (no meta-updates) and measures the loss on each of `evalSets` at the steps `at`. */
export function evaluateFeatureMlp(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  objective: Objective,
  data: Dataset,
  evalSets: Readonly<Record<string, Batch>>,
  opts: { episodes: number; at: readonly number[]; batchSize: number; seed: number; update?: FeatureMlpUpdateRule },
): EvalCurve {
  const updateRule = opts.update ?? featureMlpUpdate;
  const last = Math.max(...opts.at);
  const names = Object.keys(evalSets);
  const sums = Object.fromEntries(names.map((n) => [n, opts.at.map(() => 0)]));
  for (let e = 0; e < opts.episodes; e++) {
    const x = initialPoint(objective, opts.seed + e);
    const P = x.length;
    const sampler = new BatchSampler(data, opts.batchSize, opts.seed + e + BATCH_SEED_OFFSET);
    const state = zeroFeatureMlpState(arch, P);
    const features = new Float32Array(P * featureStride(arch));
    const update = new Float32Array(P);
    for (let t = 1; t <= last; t++) {
      const { grad } = lossAndGrad(objective, x, sampler.next());
      const time = advanceFeatures(arch, grad, state, features);
      updateRule(arch, w, features, time, update);
      for (let i = 0; i < P; i++) x[i]! += update[i]!;
      const k = opts.at.indexOf(t);
      if (k >= 0) {
        const params = tf.tensor1d(x);
        for (const n of names) {
          const l = evaluate(objective, params, evalSets[n]!).loss;
          sums[n]![k]! += Number.isFinite(l) ? l : Infinity;
        }
        params.dispose();
      }
    }
  }
  const loss = Object.fromEntries(names.map((n) => [n, sums[n]!.map((v) => v / opts.episodes)]));
  const score = Object.fromEntries(
    names.map((n) => {
      const v = loss[n]!.reduce((a, l) => a + Math.log(l), 0) / opts.at.length;
      return [n, Number.isFinite(v) ? v : Infinity];
    }),
  );
  return { at: opts.at, loss, score };
}
