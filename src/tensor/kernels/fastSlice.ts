import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs';

/** The parts of the wasm backend this kernel uses (checked at run time, not cast blindly). */
interface HeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

function isHeapBackend(b: unknown): b is HeapBackend {
  return typeof b === 'object' && b !== null && 'typedArrayFromHeap' in b && 'makeOutput' in b;
}

/**
 * The wasm backend's Slice reads its whole input out of the heap (a copy) before copying the
 * part it returns, so slicing 20 rows of an [80, d] tensor costs a copy of all 80 rows. For a
 * contiguous slice of a numeric tensor this kernel copies just the part, heap to heap; every
 * other case goes to the original kernel.
 */
export function fastSliceConfig(original: KernelConfig): KernelConfig {
  const kernelFunc: KernelFunc = (args) => {
    const { inputs, backend, attrs } = args;
    const x = inputs['x'];
    if (x === undefined || x.dtype === 'string' || !isHeapBackend(backend)) return original.kernelFunc(args);
    const beginAttr = attrs?.['begin'];
    const sizeAttr = attrs?.['size'];
    if (!Array.isArray(beginAttr) || !Array.isArray(sizeAttr)) return original.kernelFunc(args);
    const [begin, size] = tf.slice_util.parseSliceParams(x as tf.Tensor, beginAttr as number[], sizeAttr as number[]);
    if (begin === undefined || size === undefined || !tf.slice_util.isSliceContinous(x.shape, begin, size)) return original.kernelFunc(args);
    const offset = tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape));
    const count = size.reduce((a, b) => a * b, 1);
    const out = backend.makeOutput(size, x.dtype);
    // Views only after the allocation: a growing heap replaces the buffer under older views.
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x).subarray(offset, offset + count));
    return out;
  };
  return { ...original, kernelFunc };
}

let installed = false;

/** Replaces the wasm backend's Slice by `fastSliceConfig` of it, once. */
export function installFastSlice(): void {
  if (installed) return;
  const original = tf.getKernel('Slice', 'wasm');
  if (original === undefined) return;
  installed = true;
  tf.unregisterKernel('Slice', 'wasm');
  tf.registerKernel(fastSliceConfig(original));
}
