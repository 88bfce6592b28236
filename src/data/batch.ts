/**
 * A mini-batch as plain data: `x` holds `size` examples of shape `shape`, row-major;
 * `y` holds one label (int) or target (float) per example. Plain arrays travel through
 * streams without tensor ownership; a round turns them into tensors once.
 */
export interface Batch {
  readonly x: Float32Array;
  readonly y: Int32Array | Float32Array;
  readonly shape: readonly number[];
  readonly size: number;
}
