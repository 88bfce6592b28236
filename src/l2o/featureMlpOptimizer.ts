import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../optim/optimizer.js';
import {
  FEATURE_MLP_ARCHITECTURE,
  advanceFeatures,
  energyCount,
  featureStride,
  featureMlpUpdate,
  type FeatureMlpArchitecture,
  type FeatureMlpState,
  type FeatureMlpWeights,
} from './featureMlp.js';
import { weightsAtStep, type FeatureMlpHandover } from './featureMlpHandover.js';

/**
 * The feature-MLP's state as plain data a guard or run checkpoint can hold, dispose and save:
 * momenta m [K, P] (one row per decay), second moment v [P], `count` steps since the moments were
 * zeroed, `clock` steps since the run began; the fast second moment vFast [P] only when the
 * architecture has an energy trend (`energyDecay`).
 */
export type FeatureMlpOptState = {
  readonly clock: number;
  readonly count: number;
  readonly m: tf.Tensor2D;
  readonly v: tf.Tensor1D;
  readonly vFast?: tf.Tensor1D;
};

/** A float32 copy of a tensor's values (dataSync may hand back the backend's own buffer). */
const copyOf = (t: tf.Tensor): Float32Array => Float32Array.from(t.dataSync());

/** The values of a tensor for reading only. */
function valuesOf(t: tf.Tensor): Float32Array {
  const data = t.dataSync();
  return data instanceof Float32Array ? data : Float32Array.from(data);
}

function zeroState(arch: FeatureMlpArchitecture, params: tf.Tensor1D, clock: number): FeatureMlpOptState {
  const P = params.shape[0];
  const fast = energyCount(arch) > 0 ? { vFast: tf.zeros([P]) as tf.Tensor1D } : {};
  return { clock, count: 0, m: tf.zeros([arch.betas.length, P]), v: tf.zeros([P]), ...fast };
}

/**
 * The feature-MLP learned optimizer (featureMlp.ts) as an `Optimizer`: each step runs the
 * Float32Array kernels on the state's values and returns fresh tensors. With a handover
 * (featureMlpHandover.ts) the weights of a step follow its clock.
 */
export function featureMlp(
  weights: FeatureMlpWeights,
  arch: FeatureMlpArchitecture = FEATURE_MLP_ARCHITECTURE,
  handover?: FeatureMlpHandover,
): Optimizer<FeatureMlpOptState> {
  const K = arch.betas.length;
  const stride = featureStride(arch);
  return {
    name: 'feature-mlp',
    init: (params) => zeroState(arch, params, 0),
    step: (params, grads, state) => {
      const P = params.shape[0];
      const g = valuesOf(grads);
      const fastSize = state.vFast?.shape[0] ?? 0;
      if (g.length !== P || state.v.shape[0] !== P || state.m.shape[0] !== K || state.m.shape[1] !== P || fastSize !== P * energyCount(arch)) {
        throw new Error(
          `feature-mlp: step for ${P} parameters got gradients of ${g.length} and a state for [${state.m.shape}] / [${state.v.shape}] / fast [${fastSize}]`,
        );
      }
      const moments = copyOf(state.m);
      const kernelState: FeatureMlpState = {
        m: Array.from({ length: K }, (_, k) => moments.subarray(k * P, (k + 1) * P)),
        v: copyOf(state.v),
        vFast: state.vFast === undefined ? new Float32Array(0) : copyOf(state.vFast),
        count: state.count,
        clock: state.clock,
      };
      const features = new Float32Array(P * stride);
      const time = advanceFeatures(arch, g, kernelState, features);
      const update = new Float32Array(P);
      featureMlpUpdate(arch, weightsAtStep(weights, handover, kernelState.clock), features, time, update);
      const x = copyOf(params);
      for (let i = 0; i < P; i++) x[i]! += update[i]!;
      const next: FeatureMlpOptState = {
        clock: kernelState.clock,
        count: kernelState.count,
        m: tf.tensor2d(moments, [K, P]),
        v: tf.tensor1d(kernelState.v),
        ...(state.vFast === undefined ? {} : { vFast: tf.tensor1d(kernelState.vFast) }),
      };
      return [tf.tensor1d(x), next] as const;
    },
    // The clock runs on: restarting it would restart the warm-up the time features learned for
    // the run's first steps. The moments and count restart together: zeroed moments with a
    // large count would skip the bias correction, and v ≈ 0 would blow the normalised features up.
    reset: (params, { clock }) => zeroState(arch, params, clock),
  };
}
