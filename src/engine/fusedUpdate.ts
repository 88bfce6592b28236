import * as tf from '@tensorflow/tfjs';
import { activeKernels, heapOffset, onHeap, type Kernels } from './instance.js';

/**
 * The updates of sgd.ts (SGD, momentum) and adam.ts as one call each of the wasm kernels
 * (native/l2o_kernels.c) instead of 2, 4 and ~10 tfjs ops: each op costs tens of µs of
 * JavaScript and dispatch, more than the arithmetic over 16 k floats. The kernels write fresh
 * output tensors (inputs are never touched) with the same float32 operations in the same
 * order as the ops. Each function returns null where the kernel cannot run (another backend,
 * kernels off, a gradient being recorded, tensors not float32 on the wasm heap or of unequal
 * sizes): the caller then uses the tfjs ops.
 */
function kernelsFor(ts: readonly tf.Tensor[]): Kernels | null {
  if (tf.engine().state.gradientDepth > 0) return null;
  const k = activeKernels();
  if (k === null) return null;
  const n = ts[0]!.size;
  return ts.every((t) => t.size === n && t.rank === 1 && onHeap(k, t)) ? k : null;
}

const fresh = (k: Kernels, n: number): tf.TensorInfo => k.backend.makeOutput([n], 'float32');
const asTensor = (k: Kernels, info: tf.TensorInfo): tf.Tensor1D => tf.engine().makeTensorFromTensorInfo(info, k.backend) as tf.Tensor1D;

/** x − lr · g, or null (see above). */
export function fusedSgdUpdate(params: tf.Tensor1D, grads: tf.Tensor1D, lr: number): tf.Tensor1D | null {
  const k = kernelsFor([params, grads]);
  if (k === null) return null;
  const out = fresh(k, params.size);
  k.sgdUpdate(params.size, heapOffset(k, params), heapOffset(k, grads), heapOffset(k, out), lr);
  return asTensor(k, out);
}

/** Momentum's new parameters x − lr · v' and velocity v' = β v + g, or null (see above). */
export function fusedMomentumUpdate(
  params: tf.Tensor1D,
  grads: tf.Tensor1D,
  velocity: tf.Tensor1D,
  lr: number,
  beta: number,
): { x: tf.Tensor1D; velocity: tf.Tensor1D } | null {
  const k = kernelsFor([params, grads, velocity]);
  if (k === null) return null;
  const out = fresh(k, params.size);
  const vOut = fresh(k, params.size);
  k.momentumUpdate(params.size, heapOffset(k, params), heapOffset(k, grads), heapOffset(k, velocity), heapOffset(k, out), heapOffset(k, vOut), lr, beta);
  return { x: asTensor(k, out), velocity: asTensor(k, vOut) };
}

export interface AdamCoefficients {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** η_t / (1 − β1^t) */
  readonly stepSize: number;
  /** 1 / (1 − β2^t) */
  readonly vScale: number;
}

/** Adam's new parameters and moments (see adam.ts), or null (see above). */
export function fusedAdamUpdate(
  params: tf.Tensor1D,
  grads: tf.Tensor1D,
  m: tf.Tensor1D,
  v: tf.Tensor1D,
  c: AdamCoefficients,
): { x: tf.Tensor1D; m: tf.Tensor1D; v: tf.Tensor1D } | null {
  const k = kernelsFor([params, grads, m, v]);
  if (k === null) return null;
  const n = params.size;
  const outs = [fresh(k, n), fresh(k, n), fresh(k, n)] as const;
  const table = k.scratch(4 * 16); // 8 words of pointers, then 7 float coefficients
  // Views after every allocation: a growing heap replaces its buffer.
  k.heapU32().set([n, heapOffset(k, params), heapOffset(k, grads), heapOffset(k, m), heapOffset(k, v), ...outs.map((o) => heapOffset(k, o))], table / 4);
  // The tfjs ops multiply by float32 scalars: the Float32Array rounds these the same way.
  k.heapF32().set([c.beta1, 1 - c.beta1, c.beta2, 1 - c.beta2, c.stepSize, c.vScale, c.epsilon], table / 4 + 8);
  k.adamUpdate(table, table + 32);
  return { x: asTensor(k, outs[0]), m: asTensor(k, outs[1]), v: asTensor(k, outs[2]) };
}
