import * as tf from '@tensorflow/tfjs';
import { fusedMlpLossAndGrad, fusedMlpPerExampleLoss } from '../engine/fusedMlp.js';
import type { Rng } from '../tensor/rng.js';
import type { Objective, TensorBatch } from './objective.js';

interface Layer {
  readonly inputs: number;
  readonly outputs: number;
  /** Offsets of the weights [inputs, outputs] (row-major) and the bias in the flat vector. */
  readonly wOffset: number;
  readonly bOffset: number;
}

function layout(widths: readonly number[]): { layers: Layer[]; size: number } {
  const layers: Layer[] = [];
  let offset = 0;
  for (let l = 0; l + 1 < widths.length; l++) {
    const inputs = widths[l]!;
    const outputs = widths[l + 1]!;
    layers.push({ inputs, outputs, wOffset: offset, bOffset: offset + inputs * outputs });
    offset += inputs * outputs + outputs;
  }
  return { layers, size: offset };
}

/**
 * A multi-layer perceptron with sigmoid hidden layers and a softmax / negative log-likelihood
 * output, over a flat parameter vector. Forward and backward passes are written out by hand
 * (checked against finite differences in the tests): one matMul per product, no autodiff tape.
 */
export function mlp(widths: readonly number[]): Objective {
  if (widths.length < 2 || widths.some((w) => !Number.isInteger(w) || w < 1)) {
    throw new RangeError(`mlp: widths must be ≥ 2 positive integers, got [${widths.join(', ')}]`);
  }
  const { layers, size } = layout(widths);
  const classes = widths[widths.length - 1]!;

  const unpack = (params: tf.Tensor1D) =>
    layers.map((L) => ({
      w: params.slice(L.wOffset, L.inputs * L.outputs).reshape([L.inputs, L.outputs]) as tf.Tensor2D,
      b: params.slice(L.bOffset, L.outputs),
    }));

  /** Activations of every layer (input first) and the logits. */
  const forward = (params: tf.Tensor1D, batch: TensorBatch) => {
    const ws = unpack(params);
    const acts: tf.Tensor2D[] = [batch.x.reshape([batch.size, widths[0]!]) as tf.Tensor2D];
    let logits: tf.Tensor2D = acts[0]!;
    ws.forEach(({ w, b }, l) => {
      const z = tf.matMul(acts[l]!, w).add(b) as tf.Tensor2D;
      if (l === ws.length - 1) logits = z;
      else acts.push(tf.sigmoid(z));
    });
    return { ws, acts, logits };
  };

  const perExampleLoss = (params: tf.Tensor1D, batch: TensorBatch): tf.Tensor1D =>
    fusedMlpPerExampleLoss(widths, params, batch.x, batch.y, batch.size) ??
    tf.tidy(() => {
      const { logits } = forward(params, batch);
      const logp = tf.logSoftmax(logits);
      return logp.mul(tf.oneHot(batch.y.toInt(), classes)).sum(1).neg() as tf.Tensor1D;
    });

  return {
    name: `mlp-${widths.join('-')}`,
    size,
    init: (rng: Rng) => {
      const data = new Float32Array(size);
      for (const L of layers) {
        const bound = 1 / Math.sqrt(L.inputs);
        for (let i = L.wOffset; i < L.bOffset + L.outputs; i++) data[i] = rng.between(-bound, bound);
      }
      return tf.tensor1d(data);
    },
    perExampleLoss,
    // On the wasm backend both passes run as one fused kernel (l2o/kernel/fusedMlp.ts).
    lossAndGrad: (params, batch) =>
      fusedMlpLossAndGrad(widths, params, batch.x, batch.y, batch.size) ??
      tf.tidy(() => {
        const { ws, acts, logits } = forward(params, batch);
        const logp = tf.logSoftmax(logits);
        const onehot = tf.oneHot(batch.y.toInt(), classes);
        const loss = logp.mul(onehot).sum().neg().div(batch.size) as tf.Scalar;
        let dz = logp.exp().sub(onehot).div(batch.size) as tf.Tensor2D;
        const grads: tf.Tensor[] = [];
        for (let l = ws.length - 1; l >= 0; l--) {
          const a = acts[l]!;
          grads.unshift(tf.matMul(a.transpose(), dz).reshape([-1]), dz.sum(0));
          if (l > 0) {
            const da = tf.matMul(dz, ws[l]!.w.transpose());
            dz = da.mul(a.mul(tf.scalar(1).sub(a))) as tf.Tensor2D;
          }
        }
        return { loss, grad: tf.concat(grads) as tf.Tensor1D };
      }),
    accuracy: (params, batch) =>
      tf.tidy(() => {
        const { logits } = forward(params, batch);
        return logits.argMax(1).equal(batch.y.toInt()).toFloat().mean() as tf.Scalar;
      }),
  };
}
