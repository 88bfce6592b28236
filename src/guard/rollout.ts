import type * as tf from '@tensorflow/tfjs';
import type { Objective, TensorBatch } from '../optimizee/objective.js';
import { checkedStep, type AnyOptimizer } from '../optim/optimizer.js';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';

export type Point = {
  readonly x: tf.Tensor1D;
  readonly opt: StateRecord;
};

/**
 * k optimizer steps from `start`, one per batch. Pure: `start` stays intact, the result is
 * fresh (or `start` itself when there are no batches), intermediate iterates are freed, also
 * when a step throws (a user's optimizer, a wrong-length result).
 */
export function rollout(objective: Objective, opt: AnyOptimizer, start: Point, batches: readonly TensorBatch[]): Point {
  let current = start;
  try {
    for (const batch of batches) {
      const { loss, grad } = objective.lossAndGrad(current.x, batch);
      loss.dispose();
      let next: Point;
      try {
        const [x, state] = checkedStep(opt, current.x, grad, current.opt);
        next = { x, opt: state };
      } finally {
        grad.dispose();
      }
      if (current !== start) disposeReplaced(current, [next, start]);
      current = next;
    }
  } catch (err) {
    if (current !== start) disposeReplaced(current, start);
    throw err;
  }
  return current;
}
