import * as tf from '@tensorflow/tfjs';
import type { StateRecord } from '../tensor/state.js';

/**
 * One optimizer interface for all (SGD, Adam, the learned optimizer, a user's function):
 * a pure pair like optax's `GradientTransformation`. `step` returns fresh tensors and never
 * disposes its inputs; whoever owns the state disposes what it replaced.
 */
export interface Optimizer<S extends StateRecord = StateRecord> {
  readonly name: string;
  init(params: tf.Tensor1D): S;
  step(params: tf.Tensor1D, grads: tf.Tensor1D, state: S): readonly [tf.Tensor1D, S];
  /**
   * State for continuing from a new point after another optimizer's round was chosen.
   * Keeps global clocks (a schedule's step counter); defaults to `init`.
   */
  reset?(params: tf.Tensor1D, state: S): S;
}

export type AnyOptimizer = Optimizer<StateRecord>;

/** Re-initialises an optimizer's state at `params`, keeping its global clock. */
export function resetState<S extends StateRecord>(opt: Optimizer<S>, params: tf.Tensor1D, state: S): S {
  return opt.reset ? opt.reset(params, state) : opt.init(params);
}

/** Widens an optimizer with a specific state type to one that guards can hold. */
export function erase<S extends StateRecord>(opt: Optimizer<S>): AnyOptimizer {
  return opt as unknown as AnyOptimizer;
}
