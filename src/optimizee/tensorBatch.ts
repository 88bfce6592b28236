import * as tf from '@tensorflow/tfjs';
import { featureSize } from '../data/dataset.js';
import { SampledBatch } from '../data/sampler.js';
import { activeWasmBackend } from '../engine/wasmBackend.js';
import type { Batch } from '../data/batch.js';
import type { TensorBatch } from './objective.js';

/** Tensors for one batch, or for several concatenated in order (one forward pass for all). */
export function toTensorBatch(batches: readonly Batch[]): TensorBatch {
  const first = batches[0];
  if (first === undefined) throw new Error('toTensorBatch: no batches');
  const size = batches.reduce((n, b) => n + b.size, 0);
  const ys = batches.length === 1 ? first.y : concatLabels(batches);
  const isInt = ys instanceof Int32Array;
  return {
    x:
      featuresOnHeap(batches, [size, ...first.shape]) ??
      tf.tensor(
        batches.length === 1
          ? first.x
          : concatArrays(
              batches.map((b) => b.x),
              Float32Array,
            ),
        [size, ...first.shape],
      ),
    y: tf.tensor1d(ys, isInt ? 'int32' : 'float32'),
    size,
  };
}

/**
 * On the wasm backend, the features written straight into a fresh tensor's memory: sampled
 * batches are gathered there from their dataset (no intermediate buffer), others copied.
 * Null on other backends.
 */
function featuresOnHeap(batches: readonly Batch[], shape: readonly number[]): tf.Tensor | null {
  const backend = activeWasmBackend();
  if (backend === null) return null;
  // Batches whose data does not fill their shape take tf.tensor's path (and its error).
  if (batches.some((b) => !(b instanceof SampledBatch) && b.x.length !== b.size * featureSize(b.shape))) return null;
  const info = backend.makeOutput([...shape], 'float32');
  const out = backend.typedArrayFromHeap(info);
  if (!(out instanceof Float32Array)) throw new Error('toTensorBatch: the wasm heap view of a float32 tensor is not a Float32Array');
  let offset = 0;
  for (const b of batches) {
    if (b instanceof SampledBatch) b.copyFeaturesTo(out, offset);
    else out.set(b.x, offset);
    offset += b.size * featureSize(b.shape);
  }
  return tf.engine().makeTensorFromTensorInfo(info, backend);
}

function concatLabels(batches: readonly Batch[]): Int32Array | Float32Array {
  const first = batches[0]!.y;
  return first instanceof Int32Array
    ? concatArrays(
        batches.map((b) => b.y as Int32Array),
        Int32Array,
      )
    : concatArrays(
        batches.map((b) => b.y as Float32Array),
        Float32Array,
      );
}

function concatArrays<A extends Float32Array | Int32Array>(parts: readonly A[], Ctor: { new (n: number): A }): A {
  const out = new Ctor(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

export function disposeTensorBatch(b: TensorBatch): void {
  b.x.dispose();
  b.y.dispose();
}

/** A batch with no examples, for deterministic objectives that ignore their data. */
export const EMPTY_BATCH: Batch = { x: new Float32Array(0), y: new Float32Array(0), shape: [0], size: 0 };
