import * as tf from '@tensorflow/tfjs';
import { fusedMomentumUpdate, fusedSgdUpdate } from '../engine/fusedUpdate.js';
import type { Optimizer } from './optimizer.js';
import { asSchedule, type Schedule } from './schedule.js';

export type SgdState = { readonly t: number };
export type MomentumState = { readonly t: number; readonly velocity: tf.Tensor1D };

/** Plain SGD (the paper's SGDnm with a decaying schedule): x ← x − η_t g. */
export function sgd(opts: { lr: number | Schedule }): Optimizer<SgdState> {
  const lr = asSchedule(opts?.lr, 'sgd');
  return {
    name: 'sgd',
    init: () => ({ t: 0 }),
    // On the wasm backend one fused kernel call (l2o/kernel/fusedUpdate.ts), same numbers.
    step: (params, grads, { t }) => [fusedSgdUpdate(params, grads, lr(t)) ?? tf.tidy(() => params.sub(grads.mul(lr(t)))), { t: t + 1 }],
    reset: (_params, state) => state,
  };
}

export const DEFAULT_MOMENTUM = 0.9;

/** Heavy-ball momentum: v ← β v + g, x ← x − η_t v. */
export function momentum(opts: { lr: number | Schedule; beta?: number }): Optimizer<MomentumState> {
  const lr = asSchedule(opts?.lr, 'momentum');
  const beta = opts.beta ?? DEFAULT_MOMENTUM;
  if (!(Number.isFinite(beta) && beta >= 0 && beta < 1)) throw new RangeError(`momentum: beta must be in [0, 1), got ${beta}`);
  return {
    name: 'momentum',
    init: (params) => ({ t: 0, velocity: tf.zerosLike(params) }),
    step: (params, grads, { t, velocity }) => {
      const fused = fusedMomentumUpdate(params, grads, velocity, lr(t), beta);
      if (fused !== null) return [fused.x, { t: t + 1, velocity: fused.velocity }];
      const v = tf.tidy(() => velocity.mul(beta).add(grads) as tf.Tensor1D);
      return [tf.tidy(() => params.sub(v.mul(lr(t)))), { t: t + 1, velocity: v }];
    },
    reset: (params, { t }) => ({ t, velocity: tf.zerosLike(params) }),
  };
}
