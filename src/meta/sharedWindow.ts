import * as tf from '@tensorflow/tfjs';
import { activeKernels, align16, CONSTANTS, heapOffset, onHeap } from '../engine/instance.js';
import { MAX_CHUNKS, parallelChunk, parallelWanted, scratchFloats, sharedKernels } from '../engine/parallel.js';
import type { PackedLstm } from '../l2o/fastLstm.js';
import type { L2OState } from '../l2o/lstm.js';

/**
 * A truncation window's LSTM steps, forward and backward, on the shared memory of
 * parallel.ts, in chunks of coordinates that this thread and the worker share. Every state of
 * the window stays there (the backward recomputes the gates from them), so nothing but the
 * gradient, the update and the update's adjoint (d floats each) crosses between tfjs's heap and
 * the shared memory per step; the states cross at the window's start and end only.
 *
 * Each chunk of coordinates adds its share of the weight gradient to its own accumulator, and
 * `gradient()` sums them in chunk order: the meta-gradient does not depend on which thread ran
 * which chunk, so one thread and two give the same float32 numbers (for the same chunk size).
 *
 * The forward saves every step's activated gates (T · L · d · 4H floats: 204 MB for the MNIST
 * MLP's 15 910 coordinates, H = 20, L = 2, T = 20) so that the backward need not recompute
 * them; where they do not fit in the 1 GiB memory, the backward recomputes them (the same
 * numbers either way).
 */
let saveGates = true;

/** Off: the backward recomputes the gates instead of reading those the forward saved (for benchmarks and tests). */
export function setSavedGates(on: boolean): void {
  saveGates = on;
}

export interface SharedWindow {
  /** Step t (from 0): the state t and `grads` in, the update out (a fresh tensor), state t + 1 kept. */
  forward(t: number, grads: tf.Tensor1D): tf.Tensor1D;
  /** The backward of step t, adding to the weight gradient; `dUpdate` is the adjoint of its update. Steps go down from the last. */
  backward(t: number, dUpdate: tf.Tensor1D, needPrev: boolean): void;
  /** State `t` as fresh [d, H] tensors. */
  state(t: number): L2OState;
  /** The weight gradient in the packed layout, summed over chunks in order. */
  gradient(): Float32Array;
  /** Whether the worker thread takes part (else this thread runs every chunk). */
  readonly threads: 1 | 2;
  /** Whether the forward saves the gates for the backward (else it recomputes them). */
  readonly savedGates: boolean;
}

/**
 * Opens a window of T steps from `start` ([d, H] tensors on the wasm heap), or returns null
 * where it cannot run (no shared memory or worker threads, or too large for the 1 GiB memory):
 * then use the one-thread kernels on tfjs's heap.
 */
export function openSharedWindow(packed: PackedLstm, start: L2OState, T: number): SharedWindow | null {
  const k = activeKernels();
  if (k === null || !start.h.every((t) => onHeap(k, t)) || !start.c.every((t) => onHeap(k, t))) return null;
  const shared = sharedKernels();
  if (shared === null) return null;
  const { arch } = packed;
  const H = arch.hidden;
  const L = arch.layers;
  const d = start.h[0]!.shape[0];
  const stateFloats = d * H;
  const slotFloats = 2 * L * stateFloats; // h of every layer, then c
  const chunk = parallelChunk();
  const chunks = Math.ceil(d / chunk);
  if (chunks > MAX_CHUNKS) return null;
  const dwStride = align16(4 * packed.data.length);

  // Layout (bytes): table, constants, weights, pre [d, 2], update, dUpdate, grads [T, d],
  // states [T + 1] slots, two adjoint slots, one dW per chunk, two scratch blocks, saved gates [T, L, d, 4H].
  const tableAt = 0;
  const constantsAt = align16(4 * (11 + 8 * L));
  const weightsAt = constantsAt + 4 * CONSTANTS.length;
  const preAt = align16(weightsAt + 4 * packed.data.length);
  const updateAt = align16(preAt + 8 * d);
  const dUpdateAt = align16(updateAt + 4 * d);
  const gradsAt = align16(dUpdateAt + 4 * d);
  const gradsStride = align16(4 * d);
  const statesAt = gradsAt + T * gradsStride;
  const slotBytes = 4 * slotFloats;
  const adjointsAt = statesAt + (T + 1) * slotBytes;
  const dWAt = adjointsAt + 2 * slotBytes;
  const scratchAt = dWAt + chunks * dwStride;
  const scratchBytes = 4 * scratchFloats(H);
  const gatesAt = scratchAt + 2 * scratchBytes;
  const gatesBytes = 4 * L * d * 4 * H;
  const savedGates = saveGates && shared.reserve(gatesAt + T * gatesBytes);
  if (!savedGates && !shared.reserve(gatesAt)) return null;
  const gates = (t: number) => (savedGates ? gatesAt + t * gatesBytes : 0);

  const slot = (t: number) => statesAt + t * slotBytes;
  const adjoint = (t: number) => adjointsAt + (t % 2) * slotBytes;
  const layerPointers = (at: number) => Array.from({ length: 2 * L }, (_, i) => at + 4 * i * stateFloats);
  const f32 = () => shared.f32();
  {
    const mem = f32();
    const heap = k.heapF32();
    [...start.h, ...start.c].forEach((t, i) => {
      const from = heapOffset(k, t) / 4;
      mem.set(heap.subarray(from, from + stateFloats), slot(0) / 4 + i * stateFloats);
    });
    mem.set(packed.data, weightsAt / 4);
    mem.fill(0, dWAt / 4, scratchAt / 4);
    shared.u32().set(CONSTANTS, constantsAt / 4);
  }
  const threads: 1 | 2 = parallelWanted(d) ? 2 : 1;
  const job = { d, chunk, p: arch.preprocP, outScale: arch.outScale, table: tableAt, scratch: [scratchAt, scratchAt + scratchBytes] as const };
  /** Copies a [d] tensor of tfjs's heap into the shared memory at `at`. */
  const copyIn = (t: tf.Tensor1D, at: number) => {
    const from = heapOffset(k, t) / 4;
    f32().set(k.heapF32().subarray(from, from + d), at / 4);
  };
  /** A fresh tensor of `shape` with the shared memory's floats at `at`. */
  const copyOut = (at: number, shape: number[]): tf.Tensor => {
    const info = k.backend.makeOutput(shape, 'float32');
    const n = shape.reduce((a, b) => a * b, 1);
    k.heapF32().set(f32().subarray(at / 4, at / 4 + n), heapOffset(k, info) / 4);
    return tf.engine().makeTensorFromTensorInfo(info, k.backend);
  };
  let lastBackward = Infinity;

  return {
    threads,
    savedGates,
    forward(t, grads) {
      if (t < 0 || t >= T) throw new RangeError(`shared window: step ${t} is outside its ${T} steps`);
      if (!onHeap(k, grads)) throw new TypeError('shared window: the gradient is not a float32 tensor of the wasm backend');
      const g = gradsAt + t * gradsStride;
      copyIn(grads, g);
      const table = [d, H, L, weightsAt, g, updateAt, preAt, constantsAt, scratchAt, ...layerPointers(slot(t)), ...layerPointers(slot(t + 1)), gates(t)];
      shared.u32().set(table, tableAt / 4);
      shared.run({ kernel: 'forward', ...job }, threads);
      return copyOut(updateAt, [d]) as tf.Tensor1D;
    },
    backward(t, dUpdate, needPrev) {
      if (t < 0 || t >= lastBackward) throw new RangeError(`shared window: backward step ${t} after step ${lastBackward}: steps go down`);
      if (!onHeap(k, dUpdate)) throw new TypeError('shared window: the update adjoint is not a float32 tensor of the wasm backend');
      copyIn(dUpdate, dUpdateAt);
      const none = Array.from({ length: 2 * L }, () => 0);
      // The adjoint of state t + 1 is the one the previous backward step (t + 1) wrote, if it ran.
      const dNext = lastBackward === t + 1 ? layerPointers(adjoint(t + 1)) : none;
      const dPrev = needPrev ? layerPointers(adjoint(t)) : none;
      const table = [
        d,
        H,
        L,
        weightsAt,
        gradsAt + t * gradsStride,
        dUpdateAt,
        preAt,
        constantsAt,
        0,
        0,
        ...layerPointers(slot(t)),
        ...layerPointers(slot(t + 1)),
        ...dNext,
        ...dPrev,
        gates(t),
      ];
      shared.u32().set(table, tableAt / 4);
      shared.run({ kernel: 'backward', ...job, dW: { at: dWAt, stride: dwStride } }, threads);
      lastBackward = needPrev ? t : -1;
    },
    state(t) {
      const shape = [d, H];
      const [h, c] = [0, 1].map((part) => Array.from({ length: L }, (_, l) => copyOut(slot(t) + 4 * (part * L + l) * stateFloats, shape) as tf.Tensor2D));
      return { h: h!, c: c! };
    },
    gradient() {
      const n = packed.data.length;
      const sum = new Float32Array(n);
      const mem = f32();
      for (let c = 0; c < chunks; c++) {
        const part = mem.subarray((dWAt + c * dwStride) / 4, (dWAt + c * dwStride) / 4 + n);
        for (let i = 0; i < n; i++) sum[i] = sum[i]! + part[i]!;
      }
      return sum;
    },
  };
}
