import type { Batch } from './batch.js';

/** Examples in memory: `count` rows of `shape` features each (row-major) and their labels. */
export interface Dataset {
  readonly name: string;
  readonly x: Float32Array;
  readonly y: Int32Array | Float32Array;
  readonly shape: readonly number[];
  readonly count: number;
  /** Number of classes for classification data; absent for regression targets. */
  readonly classes?: number;
}

/** Explicit splits: `train` feeds optimization, `validation` model selection, `test` evaluation. */
export interface Splits {
  readonly train: Dataset;
  readonly validation?: Dataset;
  readonly test: Dataset;
}

export const featureSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The examples at `indices` as one batch (copied). */
export function gather(ds: Dataset, indices: ArrayLike<number>): Batch {
  const x = new Float32Array(indices.length * featureSize(ds.shape));
  gatherFeatures(ds, indices, x, 0);
  return { x, y: gatherLabels(ds, indices), shape: ds.shape, size: indices.length };
}

/** Copies the features of the examples at `indices`, in order, into `out` from `offset` on. */
export function gatherFeatures(ds: Dataset, indices: ArrayLike<number>, out: Float32Array, offset: number): void {
  const f = featureSize(ds.shape);
  for (let i = 0; i < indices.length; i++) {
    const j = indices[i]!;
    out.set(ds.x.subarray(j * f, (j + 1) * f), offset + i * f);
  }
}

export function gatherLabels(ds: Dataset, indices: ArrayLike<number>): Int32Array | Float32Array {
  const y = ds.y instanceof Int32Array ? new Int32Array(indices.length) : new Float32Array(indices.length);
  for (let i = 0; i < indices.length; i++) y[i] = ds.y[indices[i]!]!;
  return y;
}

/** Rows [start, end) as a dataset sharing memory with `ds`. */
export function slice(ds: Dataset, start: number, end: number, name = ds.name): Dataset {
  const f = featureSize(ds.shape);
  return {
    ...ds,
    name,
    x: ds.x.subarray(start * f, end * f),
    y: ds.y.subarray(start, end),
    count: end - start,
  };
}

/** Checks that every feature is finite; the error names the first bad sample. */
export function assertFinite(ds: Dataset): void {
  const f = featureSize(ds.shape);
  for (let i = 0; i < ds.x.length; i++) {
    if (!Number.isFinite(ds.x[i]!)) throw new RangeError(`${ds.name}: sample ${Math.floor(i / f)} has a non-finite feature (${ds.x[i]}) at index ${i % f}`);
  }
  for (let i = 0; i < ds.count; i++) {
    if (!Number.isFinite(ds.y[i]!)) throw new RangeError(`${ds.name}: sample ${i} has a non-finite label (${ds.y[i]})`);
  }
}
