import * as tf from '@tensorflow/tfjs';
import { fusedAdamUpdate } from '../engine/fusedUpdate.js';
import type { Optimizer } from './optimizer.js';
import { asSchedule, type Schedule } from './schedule.js';

export type AdamState = { readonly t: number; readonly m: tf.Tensor1D; readonly v: tf.Tensor1D };

export interface AdamOptions {
  lr: number | Schedule;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** Adam (Kingma & Ba) with bias correction, as torch.optim.Adam. */
export function adam(opts: AdamOptions): Optimizer<AdamState> {
  const lr = asSchedule(opts?.lr, 'adam');
  const { beta1 = 0.9, beta2 = 0.999, epsilon = 1e-8 } = opts;
  for (const [name, b] of [
    ['beta1', beta1],
    ['beta2', beta2],
  ] as const) {
    if (!(Number.isFinite(b) && b >= 0 && b < 1)) throw new RangeError(`adam: ${name} must be in [0, 1), got ${b}`);
  }
  if (!(Number.isFinite(epsilon) && epsilon > 0)) throw new RangeError(`adam: epsilon must be a positive number, got ${epsilon}`);
  return {
    name: 'adam',
    init: (params) => ({ t: 0, m: tf.zerosLike(params), v: tf.zerosLike(params) }),
    step: (params, grads, { t, m, v }) => {
      const n = t + 1;
      const stepSize = lr(t) / (1 - Math.pow(beta1, n));
      const vScale = 1 / (1 - Math.pow(beta2, n));
      // On the wasm backend one fused kernel call (l2o/kernel/fusedUpdate.ts), same numbers.
      const fused = fusedAdamUpdate(params, grads, m, v, { beta1, beta2, epsilon, stepSize, vScale });
      if (fused !== null) return [fused.x, { t: n, m: fused.m, v: fused.v }];
      const m1 = tf.tidy(() => m.mul(beta1).add(grads.mul(1 - beta1)) as tf.Tensor1D);
      const v1 = tf.tidy(() => v.mul(beta2).add(grads.square().mul(1 - beta2)) as tf.Tensor1D);
      const next = tf.tidy(() => params.sub(m1.mul(stepSize).div(v1.mul(vScale).sqrt().add(epsilon))) as tf.Tensor1D);
      return [next, { t: n, m: m1, v: v1 }];
    },
    reset: (params, { t }) => ({ t, m: tf.zerosLike(params), v: tf.zerosLike(params) }),
  };
}
