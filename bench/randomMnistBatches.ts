import * as tf from '@tensorflow/tfjs';
import type { TensorBatch } from '../src/optimizee/objective.js';
import type { Rng } from '../src/tensor/rng.js';

/** T batches of 128 MNIST-shaped examples with uniform pixels and labels: a window's work without loading MNIST. */
export const randomMnistBatches = (T: number, rng: Rng): TensorBatch[] =>
  Array.from({ length: T }, () => ({
    x: tf.tensor2d(
      Float32Array.from({ length: 128 * 784 }, () => rng.uniform()),
      [128, 784],
    ),
    y: tf.tensor1d(
      Int32Array.from({ length: 128 }, () => rng.int(10)),
      'int32',
    ),
    size: 128,
  }));
