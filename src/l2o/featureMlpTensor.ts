import * as tf from '@tensorflow/tfjs';
import { featureCount, featureStride, stepBiases, type FeatureMlpArchitecture, type FeatureMlpWeights } from './featureMlp.js';

// Split in JS rather than by tf.slice: on wasm a column slice costs more than the whole update.
function oddFeatures(features: Float32Array, P: number, F: number, stride: number): Float32Array {
  const out = new Float32Array(P * F);
  for (let i = 0; i < P; i++) for (let f = 0; f < F; f++) out[i * F + f] = features[i * stride + f]!;
  return out;
}

function energyTerm(features: Float32Array, P: number, F: number, stride: number, ue: number): Float32Array {
  const out = new Float32Array(P);
  for (let i = 0; i < P; i++) out[i] = ue * features[i * stride + F]!;
  return out;
}

/**
 * `featureMlpUpdate` as tensor operations (a [P, F] × [F, H] product and elementwise passes), for
 * the backend's vector kernels: on wasm several times faster than the per-coordinate loop, in
 * float32 throughout (the loop accumulates in float64), so it agrees to rounding, not bit for
 * bit. ES episodes use it (`--update tensor`); the optimizer and the experiments keep the loop.
 */
export function featureMlpUpdateTensor(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  features: Float32Array,
  time: Float64Array,
  update: Float32Array,
): void {
  const P = update.length;
  const F = featureCount(arch);
  const stride = featureStride(arch);
  const H = arch.hidden;
  const S = arch.logStepBound;
  const { hiddenBias, logStepBias, energyWeight } = stepBiases(arch, w, time);
  const out = tf.tidy(() => {
    const f = tf.tensor2d(stride === F ? features : oddFeatures(features, P, F, stride), [P, F]);
    const proj = tf.matMul(f, tf.tensor2d(w.w1, [F, H]));
    const bias = tf.tensor1d(Float32Array.from(hiddenBias));
    const plus = tf.relu(tf.add(bias, proj));
    const minus = tf.relu(tf.sub(bias, proj));
    const direction = tf.add(tf.matMul(f, tf.tensor2d(w.c, [F, 1])), tf.matMul(tf.sub(plus, minus), tf.tensor2d(w.wd, [H, 1])));
    const halfWs = tf.tensor2d(
      Float32Array.from(w.ws, (v) => 0.5 * v),
      [H, 1],
    );
    const hiddenLogStep = tf.add(tf.matMul(tf.add(plus, minus), halfWs), logStepBias);
    const logStep = stride === F ? hiddenLogStep : tf.add(hiddenLogStep, tf.tensor2d(energyTerm(features, P, F, stride, energyWeight), [P, 1]));
    const step = tf.exp(tf.mul(tf.tanh(tf.div(logStep, S)), S));
    return tf.reshape(tf.mul(step, tf.mul(direction, -arch.alpha)), [P]);
  });
  update.set(out.dataSync());
  out.dispose();
}
