import { FEATURE_MLP_WEIGHT_NAMES, type FeatureMlpWeights, type FeatureMlpWeightName } from './featureMlp.js';

/**
 * A second set of weights the feature-MLP hands over to as its clock runs (docs/algorithms.md §2b):
 * the checkpoint's own weights up to step `from`, these from step `to` on, and between them the
 * weights mixed in proportion to the steps gone. Why: one set of weights tuned for the anchored
 * guard's early rounds and another for the learned optimizer's own long run need not be one.
 */
export interface FeatureMlpHandover {
  readonly from: number;
  readonly to: number;
  readonly weights: FeatureMlpWeights;
}

/** Weight by weight (1 − t)·a + t·b. */
export function mixFeatureMlpWeights(a: FeatureMlpWeights, b: FeatureMlpWeights, t: number): FeatureMlpWeights {
  const out = {} as Record<FeatureMlpWeightName, Float32Array>;
  for (const name of FEATURE_MLP_WEIGHT_NAMES) out[name] = a[name].map((v, i) => (1 - t) * v + t * b[name][i]!);
  return out;
}

/** The share of the late weights at step n (the clock after the step's advance: 1, 2, ...). */
export function handoverShare(h: Pick<FeatureMlpHandover, 'from' | 'to'>, n: number): number {
  if (n <= h.from) return 0;
  if (n >= h.to) return 1;
  return (n - h.from) / (h.to - h.from);
}

/** The weights of step n: the early ones, the late ones, or their mix on the way. */
export function weightsAtStep(early: FeatureMlpWeights, handover: FeatureMlpHandover | undefined, n: number): FeatureMlpWeights {
  if (handover === undefined) return early;
  const t = handoverShare(handover, n);
  return t === 0 ? early : t === 1 ? handover.weights : mixFeatureMlpWeights(early, handover.weights, t);
}
