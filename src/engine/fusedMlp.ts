import * as tf from '@tensorflow/tfjs';
import { activeKernels, align16, CONSTANTS, heapOffset, onHeap, type Kernels } from './instance.js';

/**
 * mlp.ts's sigmoid MLP with softmax negative log-likelihood, as one call of the fused wasm
 * kernel (native/l2o_kernels.c, `mlp`): forward and hand-written backward pass in place on
 * the tfjs heap, instead of ~30 tfjs ops. Same numbers within float32 rounding. Each function
 * returns null where the kernel cannot run (another backend, kernels off, labels not int32,
 * or a gradient being recorded):
 * the caller then uses the tfjs ops.
 */
interface Call {
  readonly k: Kernels;
  readonly params: tf.Tensor1D;
  readonly x: tf.Tensor;
  readonly y: tf.Tensor1D;
  readonly size: number;
}

function prepare(widths: readonly number[], params: tf.Tensor1D, x: tf.Tensor, y: tf.Tensor1D, size: number): Call | null {
  // Inside tf.grad & co. the tfjs ops run, so that the loss stays differentiable.
  if (tf.engine().state.gradientDepth > 0) return null;
  const k = activeKernels();
  if (k === null || size < 1 || x.size !== size * widths[0]! || y.size !== size) return null;
  if (y.dtype !== 'int32' || !k.backend.dataIdMap.has(y.dataId)) return null;
  if (!onHeap(k, params) || !onHeap(k, x)) return null;
  return { k, params, x, y, size };
}

/** Runs the kernel; `grad` null for the forward pass only. */
function run(call: Call, widths: readonly number[], losses: tf.TensorInfo, grad: tf.TensorInfo | null): void {
  const { k, size: B } = call;
  const L = widths.length - 1;
  const off = (t: { dataId: object }) => heapOffset(k, t);
  const hidden = widths.slice(1);
  const maxw = Math.max(...hidden);
  const maxW = Math.max(0, ...widths.slice(1, -1).map((w, i) => w * widths[i + 2]!));
  const scratchFloats = B * hidden.reduce((a, b) => a + b, 0) + 2 * B * maxw + maxW;
  const tableWords = 9 + L + 1;
  const constantsAt = align16(4 * tableWords);
  const scratchAt = constantsAt + 4 * CONSTANTS.length;
  const base = k.scratch(scratchAt + 4 * scratchFloats);
  const u32 = k.heapU32();
  u32.set([L, B, off(call.params), off(call.x), off(call.y), off(losses), grad ? off(grad) : 0, base + scratchAt, base + constantsAt, ...widths], base / 4);
  u32.set(CONSTANTS, (base + constantsAt) / 4);
  k.mlp(base);
}

export function fusedMlpLossAndGrad(
  widths: readonly number[],
  params: tf.Tensor1D,
  x: tf.Tensor,
  y: tf.Tensor1D,
  size: number,
): { loss: tf.Scalar; grad: tf.Tensor1D } | null {
  const call = prepare(widths, params, x, y, size);
  if (call === null) return null;
  const { backend } = call.k;
  const loss = backend.makeOutput([], 'float32');
  const grad = backend.makeOutput([params.shape[0]], 'float32');
  run(call, widths, loss, grad);
  const engine = tf.engine();
  return { loss: engine.makeTensorFromTensorInfo(loss, backend) as tf.Scalar, grad: engine.makeTensorFromTensorInfo(grad, backend) as tf.Tensor1D };
}

export function fusedMlpPerExampleLoss(widths: readonly number[], params: tf.Tensor1D, x: tf.Tensor, y: tf.Tensor1D, size: number): tf.Tensor1D | null {
  const call = prepare(widths, params, x, y, size);
  if (call === null) return null;
  const { backend } = call.k;
  const losses = backend.makeOutput([size], 'float32');
  run(call, widths, losses, null);
  return tf.engine().makeTensorFromTensorInfo(losses, backend) as tf.Tensor1D;
}
