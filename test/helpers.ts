import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import type { Optimizer } from '../src/optim/optimizer.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective, TensorBatch } from '../src/optimizee/objective.js';
import type { RoundOptimizer, RoundReport, RoundState } from '../src/guard/round.js';
import { toTensorBatch, disposeTensorBatch } from '../src/optimizee/tensorBatch.js';
import { disposeReplaced, type StateRecord } from '../src/tensor/state.js';

/** f_B(x) = ½ mean_i ‖x − y_i‖² with the batch's targets y_i (a scalar per example, broadcast). */
export const centering: Objective = {
  name: 'centering',
  size: 1,
  init: () => tf.tensor1d([0]),
  perExampleLoss: (x, b) => tf.tidy(() => b.y.toFloat().sub(x).square().mul(0.5) as tf.Tensor1D),
  lossAndGrad: (x, b) =>
    tf.tidy(() => ({
      loss: b.y.toFloat().sub(x).square().mean().mul(0.5) as tf.Scalar,
      grad: x.sub(b.y.toFloat().mean()).reshape([1]) as tf.Tensor1D,
    })),
};

/** A batch of one-dimensional targets for `centering`. */
export const targets = (...ys: number[]): Batch => ({ x: new Float32Array(ys.length), y: Float32Array.from(ys), shape: [1], size: ys.length });

/** A learned optimizer that moves by fixed offsets, one per call, cycling; counts its steps in state. */
export function scripted(offsets: readonly number[]): Optimizer<{ calls: number }> {
  return {
    name: 'scripted',
    init: () => ({ calls: 0 }),
    step: (x, _g, { calls }) => [tf.tidy(() => x.add(offsets[calls % offsets.length]!) as tf.Tensor1D), { calls: calls + 1 }],
  };
}

/** Runs one round on plain batches, freeing the batch tensors. */
export function runRound<S extends RoundState>(
  opt: RoundOptimizer<S>,
  objective: Objective,
  state: S,
  batches: readonly Batch[],
): E.Either<unknown, readonly [S, RoundReport]> {
  const tensors: TensorBatch[] = batches.map((b) => toTensorBatch([b]));
  try {
    return opt.round(objective, state, tensors);
  } finally {
    tensors.forEach(disposeTensorBatch);
  }
}

/** Runs a round that must succeed and hands over ownership (the old state is freed). */
export function mustRound<S extends RoundState>(opt: RoundOptimizer<S>, objective: Objective, state: S, batches: readonly Batch[]): readonly [S, RoundReport] {
  const r = runRound(opt, objective, state, batches);
  if (E.isLeft(r)) throw new Error(`round failed: ${JSON.stringify(r.left)}`);
  disposeReplaced(state, r.right[0]);
  return r.right;
}

export const scalarOf = (t: tf.Tensor): number => t.dataSync()[0]!;
export type { StateRecord };
