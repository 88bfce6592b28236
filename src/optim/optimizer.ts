import * as tf from '@tensorflow/tfjs';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';

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

/** Throws a TypeError naming `where` unless `opt` has the optimizer interface's init and step. */
export function assertOptimizer(opt: unknown, where: string): asserts opt is AnyOptimizer {
  const o = opt as { init?: unknown; step?: unknown } | null | undefined;
  if (typeof o !== 'object' || o === null || typeof o.init !== 'function' || typeof o.step !== 'function') {
    throw new TypeError(`${where}: expected an optimizer { name, init(params), step(params, grads, state) }, got ${o === null ? 'null' : typeof o}`);
  }
}

/**
 * `opt.step` with its result checked: a new point of another length than `params` (a learned
 * optimizer built for another shape) is an error naming the optimizer and both lengths, after
 * the step's fresh tensors are freed.
 */
export function checkedStep<S extends StateRecord>(opt: Optimizer<S>, params: tf.Tensor1D, grads: tf.Tensor1D, state: S): readonly [tf.Tensor1D, S] {
  const result = opt.step(params, grads, state);
  const x = result[0] as unknown;
  if (x instanceof tf.Tensor && x.rank === 1 && x.shape[0] === params.shape[0]) return result;
  const got = x instanceof tf.Tensor ? `a tensor of shape [${x.shape.join(', ')}]` : typeof x;
  disposeReplaced(result, [params, grads, state]);
  throw new Error(`${opt.name}: step returned ${got} for ${params.shape[0]} parameters (expected a vector of ${params.shape[0]} values)`);
}

/** Widens an optimizer with a specific state type to one that guards can hold. */
export function erase<S extends StateRecord>(opt: Optimizer<S>): AnyOptimizer {
  return opt as unknown as AnyOptimizer;
}
