import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../tensor/rng.js';

/** A batch as tensors: x is [size, ...shape], y is [size]. */
export interface TensorBatch {
  readonly x: tf.Tensor;
  readonly y: tf.Tensor1D;
  readonly size: number;
}

/**
 * The function being optimized, over a flat parameter vector of length `size`.
 * All methods are pure: fresh tensors out, inputs untouched.
 */
export interface Objective {
  readonly name: string;
  readonly size: number;
  /** Initial parameters, drawn from `rng`. */
  init(rng: Rng): tf.Tensor1D;
  /** Loss of each example of the batch (a deterministic objective returns one value). */
  perExampleLoss(params: tf.Tensor1D, batch: TensorBatch): tf.Tensor1D;
  /** Mean loss over the batch and its gradient. */
  lossAndGrad(params: tf.Tensor1D, batch: TensorBatch): { loss: tf.Scalar; grad: tf.Tensor1D };
  /** Fraction of examples classified correctly, for classifiers. */
  accuracy?(params: tf.Tensor1D, batch: TensorBatch): tf.Scalar;
}
