import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../tensor/rng.js';
import type { Objective, TensorBatch } from './objective.js';

export interface ConvnetOptions {
  /** Image height, width and channels; batches are [size, h, w, c] (or flat [size, h·w·c]). */
  readonly input: readonly [number, number, number];
  /** Output channels of each 3×3, stride-2, 'same'-padded ReLU convolution. */
  readonly channels: readonly number[];
  readonly classes: number;
}

const KERNEL = 3;
const STRIDE = 2;

interface Block {
  /** Shape of the weights: [3, 3, in, out] for a convolution, [inputs, classes] for the head. */
  readonly wShape: readonly number[];
  readonly fanIn: number;
  readonly wOffset: number;
  readonly wSize: number;
  readonly bOffset: number;
  readonly bSize: number;
}

/** Flat layout: each convolution's weights [3, 3, in, out] then its bias, then the head's [inputs, classes] and bias. */
function layout({ input, channels, classes }: ConvnetOptions) {
  const blocks: Block[] = [];
  let offset = 0;
  const push = (wShape: number[], fanIn: number) => {
    const wSize = wShape.reduce((a, b) => a * b, 1);
    const bSize = wShape[wShape.length - 1]!;
    blocks.push({ wShape, fanIn, wOffset: offset, wSize, bOffset: offset + wSize, bSize });
    offset += wSize + bSize;
  };
  let [h, w, c] = input;
  for (const out of channels) {
    push([KERNEL, KERNEL, c, out], KERNEL * KERNEL * c);
    // 'same' padding with stride s gives ⌈size / s⌉
    h = Math.ceil(h / STRIDE);
    w = Math.ceil(w / STRIDE);
    c = out;
  }
  const features = h * w * c;
  push([features, classes], features);
  return { blocks, size: offset, features };
}

const positiveInts = (xs: readonly number[]) => xs.every((x) => Number.isInteger(x) && x >= 1);

/**
 * A convolutional classifier over a flat parameter vector: 3×3 stride-2 'same' convolutions with
 * ReLU, flattened (NHWC order) into a dense softmax head with negative log-likelihood loss.
 * The backward pass is written out (checked against finite differences in the tests): no
 * autodiff tape, and no transposed-operand matMuls, which are slow on the wasm backend.
 */
export function convnet(opts: ConvnetOptions): Objective {
  const { input, channels, classes } = opts;
  if (input.length !== 3 || !positiveInts(input)) {
    throw new RangeError(`convnet: input must be [height, width, channels] positive integers, got [${input.join(', ')}]`);
  }
  if (channels.length === 0 || !positiveInts(channels)) {
    throw new RangeError(`convnet: channels must be ≥ 1 positive integers, got [${channels.join(', ')}]`);
  }
  if (!Number.isInteger(classes) || classes < 2) throw new RangeError(`convnet: classes must be an integer ≥ 2, got ${classes}`);
  const { blocks, size, features } = layout(opts);
  const convs = blocks.slice(0, -1);
  const head = blocks[blocks.length - 1]!;

  const unpack = (params: tf.Tensor1D, B: Block) => ({
    w: params.slice(B.wOffset, B.wSize).reshape([...B.wShape]),
    b: params.slice(B.bOffset, B.bSize) as tf.Tensor1D,
  });

  /** The input of every convolution, the flattened features and the logits. */
  const forward = (params: tf.Tensor1D, batch: TensorBatch) => {
    const acts: tf.Tensor4D[] = [batch.x.reshape([batch.size, ...input]) as tf.Tensor4D];
    const filters: tf.Tensor4D[] = [];
    for (const B of convs) {
      const { w, b } = unpack(params, B);
      filters.push(w as tf.Tensor4D);
      acts.push(tf.fused.conv2d({ x: acts[acts.length - 1]!, filter: w as tf.Tensor4D, strides: STRIDE, pad: 'same', bias: b, activation: 'relu' }));
    }
    const { w: wHead, b: bHead } = unpack(params, head);
    const flat = acts[acts.length - 1]!.reshape([batch.size, features]) as tf.Tensor2D;
    const logits = tf.matMul(flat, wHead as tf.Tensor2D).add(bHead) as tf.Tensor2D;
    return { acts, filters, flat, wHead: wHead as tf.Tensor2D, logits };
  };

  const logProbs = (params: tf.Tensor1D, batch: TensorBatch) => tf.logSoftmax(forward(params, batch).logits);

  return {
    name: `convnet-${input.join('x')}-${channels.join('-')}-${classes}`,
    size,
    init: (rng: Rng) => {
      // PyTorch's defaults for Conv2d and Linear: weights and biases uniform in ±1/√fan_in.
      const data = new Float32Array(size);
      for (const B of blocks) {
        const bound = 1 / Math.sqrt(B.fanIn);
        for (let i = B.wOffset; i < B.bOffset + B.bSize; i++) data[i] = rng.between(-bound, bound);
      }
      return tf.tensor1d(data);
    },
    perExampleLoss: (params, batch) => tf.tidy(() => logProbs(params, batch).mul(tf.oneHot(batch.y.toInt(), classes)).sum(1).neg() as tf.Tensor1D),
    lossAndGrad: (params, batch) =>
      tf.tidy(() => {
        const { acts, filters, flat, wHead, logits } = forward(params, batch);
        const logp = tf.logSoftmax(logits);
        const onehot = tf.oneHot(batch.y.toInt(), classes);
        const loss = logp.mul(onehot).sum().neg().div(batch.size) as tf.Scalar;
        const dLogits = logp.exp().sub(onehot).div(batch.size) as tf.Tensor2D;
        const grads: tf.Tensor[] = [tf.matMul(flat.transpose(), dLogits).reshape([-1]), dLogits.sum(0)];
        let dAct = tf.matMul(dLogits, wHead.transpose()).reshape(acts[acts.length - 1]!.shape) as tf.Tensor4D;
        for (let l = convs.length - 1; l >= 0; l--) {
          const out = acts[l + 1]!;
          const x = acts[l]!;
          // ReLU: the output is positive exactly where the pre-activation is
          const dz = dAct.mul(tf.step(out)) as tf.Tensor4D;
          const dw = tf.engine().runKernel(
            tf.Conv2DBackpropFilter,
            { x, dy: dz },
            {
              strides: STRIDE,
              pad: 'same',
              dataFormat: 'NHWC',
              filterShape: filters[l]!.shape,
            },
          );
          if (!(dw instanceof tf.Tensor)) throw new Error('convnet: Conv2DBackpropFilter returned several tensors');
          grads.unshift(dw.reshape([-1]), dz.sum([0, 1, 2]));
          if (l > 0) dAct = tf.conv2dTranspose(dz, filters[l]!, x.shape, STRIDE, 'same');
        }
        return { loss, grad: tf.concat(grads) as tf.Tensor1D };
      }),
    accuracy: (params, batch) => tf.tidy(() => forward(params, batch).logits.argMax(1).equal(batch.y.toInt()).toFloat().mean() as tf.Scalar),
  };
}

/** The networks of docs/algorithms.md §6. */
export const conv3 = (input: readonly [number, number, number], classes: number): Objective => convnet({ input, channels: [16, 32, 32], classes });
export const conv5 = (input: readonly [number, number, number], classes: number): Objective => convnet({ input, channels: [16, 32, 64, 64, 128], classes });
