import type * as tf from '@tensorflow/tfjs';
import type { Objective, TensorBatch } from '../optimizee/objective.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';

export type Point = {
  readonly x: tf.Tensor1D;
  readonly opt: StateRecord;
};

/**
 * k optimizer steps from `start`, one per batch. Pure: `start` stays intact, the result is
 * fresh (or `start` itself when there are no batches), intermediate iterates are freed.
 */
export function rollout(objective: Objective, opt: AnyOptimizer, start: Point, batches: readonly TensorBatch[]): Point {
  let current = start;
  for (const batch of batches) {
    const { loss, grad } = objective.lossAndGrad(current.x, batch);
    loss.dispose();
    const [x, state] = opt.step(current.x, grad, current.opt);
    grad.dispose();
    const next = { x, opt: state };
    if (current !== start) disposeReplaced(current, [next, start]);
    current = next;
  }
  return current;
}
