import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batch.js';
import type { Objective } from './objective.js';
import { disposeTensorBatch, toTensorBatch } from './tensorBatch.js';

/** The mean loss of `x` on a batch, and its accuracy when the objective classifies. */
export interface Evaluation {
  readonly loss: number;
  readonly accuracy?: number;
}

/** Evaluates `x` on `batch` (test subsets, training subsets); frees what it makes. */
export function evaluate(objective: Objective, x: tf.Tensor1D, batch: Batch): Evaluation {
  const tb = toTensorBatch([batch]);
  try {
    const loss = tf.tidy(() => objective.perExampleLoss(x, tb).mean().dataSync()[0]!);
    const accuracy = objective.accuracy ? tf.tidy(() => objective.accuracy!(x, tb).dataSync()[0]!) : undefined;
    return accuracy === undefined ? { loss } : { loss, accuracy };
  } finally {
    disposeTensorBatch(tb);
  }
}
