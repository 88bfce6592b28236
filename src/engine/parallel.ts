import { Worker } from 'node:worker_threads';
import { align16, CONSTANTS, kernelBinaries, kernelGeneration, type Kernels } from './instance.js';

/**
 * The LSTM kernel on two threads: this one and a worker, sharing chunks of the coordinates
 * (the LSTM is coordinate-wise, so a chunk is the same kernel on a range). Both run
 * the kernel build that imports a shared memory, since tfjs's heap cannot be shared: the
 * state is copied in, unless it is the state this module produced last (it keeps that copy:
 * a rollout chains its steps), and the new state is copied out to tfjs tensors.
 */

/** Below this many coordinates one thread is faster than handing half to a worker. */
export const DEFAULT_MIN_PARALLEL = 4096;
let minParallel = DEFAULT_MIN_PARALLEL;
let threadsOn = true;

/** Sets when the two-thread path runs (coordinates ≥ minCoordinates), or turns it off. */
export function configureParallel(opts: { enabled?: boolean; minCoordinates?: number; chunk?: number }): void {
  if (opts.enabled !== undefined) threadsOn = opts.enabled;
  if (opts.chunk !== undefined) chunkSize = Math.max(4, 4 * Math.round(opts.chunk / 4));
  if (opts.minCoordinates !== undefined) minParallel = opts.minCoordinates;
}

export const parallelWanted = (d: number): boolean => threadsOn && d >= minParallel;

const PAGE = 65536;
const MAX_PAGES = 16384; // the build's --max-memory (1 GiB)

/** Coordinates per chunk of work: small enough that a thread that lags holds up little. */
export const DEFAULT_CHUNK = 512;
let chunkSize = DEFAULT_CHUNK;

// Control words (Int32 over a SharedArrayBuffer): [0] job number (−1: quit), [1] table,
// [2..5] float arguments, [6] error, [7] chunks finished, [8] next chunk, [9] chunks,
// [10] coordinates, [11] the worker's gate scratch, [12] coordinates per chunk,
// [13] chunks the worker has run in all (a diagnostic).
// Chunks are taken from a shared counter, so a worker that gets no core in time costs a
// chunk's wait at most: the main thread takes the rest.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, binary, control } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
const chunk = instance.exports.lstm_chunk;
const ctl = new Int32Array(control);
const args = new Float32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  const job = Atomics.load(ctl, 0);
  if (job < 0) break;
  seen = job;
  for (;;) {
    const c = Atomics.add(ctl, 8, 1);
    if (c >= ctl[9]) break;
    try {
      chunk(ctl[1], c * ctl[12], Math.min(ctl[10], (c + 1) * ctl[12]), ctl[11], args[2], args[3], args[4], args[5]);
    } catch (e) {
      ctl[6] = 1;
    }
    Atomics.add(ctl, 13, 1);
    Atomics.add(ctl, 7, 1);
    Atomics.notify(ctl, 7);
  }
}
`;

export interface ParallelArgs {
  readonly d: number;
  readonly H: number;
  readonly L: number;
  readonly weights: Float32Array;
  readonly p: number;
  readonly outScale: number;
  /** Heap offsets (bytes) in tfjs's memory. */
  readonly grads: number;
  readonly update: number;
  /** h of every layer, then c of every layer: inputs and outputs. */
  readonly stateIn: readonly number[];
  readonly stateOut: readonly number[];
  /** Identity of the input state (its data ids), to skip copying it in when it is ours. */
  readonly stateKey: readonly object[];
  /** Identity the output state will have, for the next call. */
  readonly outKey: readonly object[];
}

interface Pool {
  readonly generation: number;
  readonly memory: WebAssembly.Memory;
  readonly lstmChunk: (table: number, from: number, to: number, gates: number, p: number, threshold: number, scale: number, outScale: number) => void;
  readonly ctl: Int32Array;
  readonly args: Float32Array;
  stop(): void;
  /** Which of the two state slots holds the state last produced, and its identity. */
  last: { slot: number; key: readonly object[] } | null;
}

let pool: Pool | null | undefined;

function startPool(): Pool | null {
  try {
    const { shared: binary, generation } = kernelBinaries();
    const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
    const lstmChunk: unknown = instance.exports['lstm_chunk'];
    if (typeof lstmChunk !== 'function') return null;
    const control = new SharedArrayBuffer(64);
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { memory, binary, control } });
    worker.unref(); // an idle worker must not keep the process alive
    return {
      generation,
      memory,
      lstmChunk: (table, from, to, gates, p, threshold, scale, outScale) => void lstmChunk(table, from, to, gates, p, threshold, scale, outScale),
      ctl: new Int32Array(control),
      args: new Float32Array(control),
      last: null,
      stop: () => {
        const ctl = new Int32Array(control);
        Atomics.store(ctl, 0, -1);
        void worker.terminate();
        Atomics.notify(ctl, 0);
      },
    };
  } catch {
    return null; // no shared memory or no worker threads here: one thread it is
  }
}

/**
 * One LSTM step on two threads, reading inputs from and writing outputs to tfjs's heap
 * (`k`). Returns false (nothing written) where the two-thread path cannot run.
 */
export function parallelLstmStep(k: Kernels, a: ParallelArgs): boolean {
  if (pool !== undefined && pool !== null && pool.generation !== kernelGeneration()) {
    pool.stop();
    pool = undefined;
  }
  if (pool === undefined) pool = startPool();
  if (pool === null) return false;
  const P = pool;
  const { d, H, L } = a;
  const stateBytes = 4 * d * H;
  // Layout: the table, constants, weights, two state slots, grads, update, pre, two gate tiles.
  const tableWords = 9 + 4 * L;
  const tablesAt = 0;
  const constantsAt = align16(4 * tableWords);
  const weightsAt = constantsAt + 4 * CONSTANTS.length;
  const slotAt = [align16(weightsAt + 4 * a.weights.length)];
  slotAt.push(slotAt[0]! + 2 * L * stateBytes);
  const gradsAt = slotAt[1]! + 2 * L * stateBytes;
  const updateAt = align16(gradsAt + 4 * d);
  const preAt = align16(updateAt + 4 * d);
  const tileFloats = 32 * 4 * H; // TILE · 4H, as in the kernel
  const tilesAt = align16(preAt + 8 * d);
  const total = tilesAt + 2 * 4 * tileFloats;
  const pages = Math.ceil(total / PAGE);
  if (pages > MAX_PAGES) return false;
  if (pages > P.memory.buffer.byteLength / PAGE) P.memory.grow(pages - P.memory.buffer.byteLength / PAGE);

  const shared = new Float32Array(P.memory.buffer);
  const heap = k.heapF32();
  const sameKey = P.last !== null && P.last.key.length === a.stateKey.length && P.last.key.every((id, i) => id === a.stateKey[i]);
  const inSlot = sameKey ? P.last!.slot : 0;
  const outSlot = 1 - inSlot;
  if (!sameKey) {
    a.stateIn.forEach((off, i) => shared.set(heap.subarray(off / 4, off / 4 + d * H), (slotAt[inSlot]! + i * stateBytes) / 4));
  }
  shared.set(heap.subarray(a.grads / 4, a.grads / 4 + d), gradsAt / 4);
  shared.set(a.weights, weightsAt / 4);
  new Uint32Array(P.memory.buffer).set(CONSTANTS, constantsAt / 4);

  const table = [
    d,
    H,
    L,
    weightsAt,
    gradsAt,
    updateAt,
    preAt,
    constantsAt,
    tilesAt,
    ...Array.from({ length: 2 * L }, (_, i) => slotAt[inSlot]! + i * stateBytes),
    ...Array.from({ length: 2 * L }, (_, i) => slotAt[outSlot]! + i * stateBytes),
  ];
  new Uint32Array(P.memory.buffer).set(table, tablesAt / 4);

  const threshold = Math.exp(-a.p);
  const scale = Math.exp(a.p);
  const CHUNK = chunkSize;
  const chunks = Math.ceil(d / CHUNK);
  const { ctl, args } = P;
  ctl[1] = tablesAt;
  args.set([a.p, threshold, scale, a.outScale], 2);
  ctl[6] = 0;
  ctl[9] = chunks;
  ctl[10] = d;
  ctl[11] = tilesAt + 4 * tileFloats;
  ctl[12] = CHUNK;
  Atomics.store(ctl, 7, 0);
  Atomics.store(ctl, 8, 0);
  Atomics.add(ctl, 0, 1); // a new job: wakes the worker
  Atomics.notify(ctl, 0);
  for (;;) {
    const c = Atomics.add(ctl, 8, 1);
    if (c >= chunks) break;
    P.lstmChunk(tablesAt, c * CHUNK, Math.min(d, (c + 1) * CHUNK), tilesAt, a.p, threshold, scale, a.outScale);
    Atomics.add(ctl, 7, 1);
  }
  for (let done = Atomics.load(ctl, 7); done < chunks; done = Atomics.load(ctl, 7)) Atomics.wait(ctl, 7, done);
  if (ctl[6] !== 0) throw new Error('l2o kernels: the LSTM worker thread failed');

  const out = k.heapF32(); // the tfjs heap may have grown since `heap`
  out.set(shared.subarray(updateAt / 4, updateAt / 4 + d), a.update / 4);
  a.stateOut.forEach((off, i) => {
    const from = (slotAt[outSlot]! + i * stateBytes) / 4;
    out.set(shared.subarray(from, from + d * H), off / 4);
  });
  P.last = { slot: outSlot, key: a.outKey };
  return true;
}
