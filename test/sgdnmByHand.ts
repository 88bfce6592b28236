import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../src/data/batch.js';
import type { Objective } from '../src/optimizee/objective.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';

/**
 * One SGDnm step written out apart from src/ (tests check ES's episodes against it):
 * x ← x − η0 (1 + t/τ)^(−1/p) ∇f_B(x) with the tasks' η0 = 3, τ = 50,000, p = 1.5; t counts from 0.
 */
export function sgdnmStepByHand(objective: Objective, x: Float32Array, batch: Batch, t: number): void {
  const params = tf.tensor1d(x);
  const tb = toTensorBatch([batch]);
  const { loss, grad } = objective.lossAndGrad(params, tb);
  const g = grad.dataSync();
  const eta = 3 * Math.pow(1 + t / 50_000, -1 / 1.5);
  for (let j = 0; j < x.length; j++) x[j]! -= eta * g[j]!;
  disposeTensorBatch(tb);
  tf.dispose([params, loss, grad]);
}
