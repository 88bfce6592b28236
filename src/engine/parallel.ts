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
// LGL2O_THREADS=1 keeps the kernels on one thread (for A/B runs), as configureParallel({ enabled: false }) does.
let threadsOn = globalThis.process?.env['LGL2O_THREADS'] !== '1';
let workerFirst = false;

/**
 * Sets when the two-thread path runs (coordinates ≥ minCoordinates), or turns it off.
 * `workerFirst` (tests only) makes the main thread wait until the worker has taken a chunk of
 * each job before it takes any, so that both threads certainly share the work.
 */
export function configureParallel(opts: { enabled?: boolean; minCoordinates?: number; chunk?: number; workerFirst?: boolean }): void {
  if (opts.enabled !== undefined) threadsOn = opts.enabled;
  if (opts.chunk !== undefined) chunkSize = Math.max(4, 4 * Math.round(opts.chunk / 4));
  if (opts.minCoordinates !== undefined) minParallel = opts.minCoordinates;
  if (opts.workerFirst !== undefined) workerFirst = opts.workerFirst;
}

export const parallelWanted = (d: number): boolean => threadsOn && d >= minParallel;

const PAGE = 65536;
const MAX_PAGES = 16384; // the build's --max-memory (1 GiB)

/** Coordinates per chunk of work: small enough that a thread that lags holds up little. */
export const DEFAULT_CHUNK = 512;
let chunkSize = DEFAULT_CHUNK;
export const parallelChunk = (): number => chunkSize;
/** The most chunks one job can count (a job's chunk counter has 16 bits). */
export const MAX_CHUNKS = 0xffff;

/** Floats of one thread's scratch: the forward's gates ([32, 4H]) or the backward's tile ((6·16 + 16)·H), whichever is larger. */
export const scratchFloats = (H: number): number => 128 * H;

// Control words (Int32 over a SharedArrayBuffer): [0] job number (−1: quit; the worker wakes
// when it changes), [1] table, [2..5] float arguments, [6] error, [7] chunks finished,
// [8] the job's tag (job mod 2^15) << 16 | next chunk, [9] chunks, [10] coordinates, [11] the
// worker's scratch, [12] coordinates per chunk, [13] chunks the worker has taken in all,
// [14] kernel (0: lstm_chunk, 1: lstm_backward_chunk), [15] dW of chunk 0, [16] bytes between
// chunks' dW. A chunk is claimed by a compare-and-swap on [8] that also checks the job's tag,
// so a worker that wakes late cannot take a chunk of a later job before its parameters are
// set, nor take one twice. A worker that gets no core in time costs a chunk's wait at most:
// the main thread takes the rest.
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { memory, binary, control } = workerData;
const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
const forward = instance.exports.lstm_chunk;
const backward = instance.exports.lstm_backward_chunk;
const ctl = new Int32Array(control);
const args = new Float32Array(control);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  const job = Atomics.load(ctl, 0);
  if (job < 0) break;
  seen = job;
  const tag = job & 0x7fff;
  for (;;) {
    const cur = Atomics.load(ctl, 8);
    if (cur >>> 16 !== tag || (cur & 0xffff) >= ctl[9]) break;
    if (Atomics.compareExchange(ctl, 8, cur, cur + 1) !== cur) continue;
    const c = cur & 0xffff;
    Atomics.add(ctl, 13, 1);
    Atomics.notify(ctl, 13);
    const from = c * ctl[12], to = Math.min(ctl[10], (c + 1) * ctl[12]);
    try {
      if (ctl[14] === 0) forward(ctl[1], from, to, ctl[11], args[2], args[3], args[4], args[5]);
      else backward(ctl[1], from, to, ctl[15] + c * ctl[16], ctl[11], args[2], args[3], args[4], args[5]);
    } catch (e) {
      ctl[6] = 1;
    }
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

type ChunkKernel = (table: number, from: number, to: number, scratch: number, p: number, threshold: number, scale: number, outScale: number) => void;
type BackwardChunkKernel = (
  table: number,
  from: number,
  to: number,
  dW: number,
  scratch: number,
  p: number,
  threshold: number,
  scale: number,
  outScale: number,
) => void;

interface Pool {
  readonly generation: number;
  readonly memory: WebAssembly.Memory;
  readonly lstmChunk: ChunkKernel;
  readonly backwardChunk: BackwardChunkKernel;
  readonly ctl: Int32Array;
  readonly args: Float32Array;
  /** Jobs started (the low 15 bits tag a job's chunk counter). */
  job: number;
  stop(): void;
  /** Which of the two state slots holds the state last produced by parallelLstmStep, and its identity. */
  last: { slot: number; key: readonly object[] } | null;
}

let pool: Pool | null | undefined;

function startPool(): Pool | null {
  try {
    const { shared: binary, generation } = kernelBinaries();
    const memory = new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(binary), { env: { memory } });
    const lstmChunk: unknown = instance.exports['lstm_chunk'];
    const backwardChunk: unknown = instance.exports['lstm_backward_chunk'];
    if (typeof lstmChunk !== 'function' || typeof backwardChunk !== 'function') return null;
    const control = new SharedArrayBuffer(128);
    // Node's worker threads, looked up at run time: this module is also bundled for browsers.
    const threads = globalThis.process?.getBuiltinModule('node:worker_threads');
    if (threads === undefined) return null;
    const worker = new threads.Worker(WORKER_SOURCE, { eval: true, workerData: { memory, binary, control } });
    worker.unref(); // an idle worker must not keep the process alive
    return {
      generation,
      memory,
      lstmChunk: (table, from, to, gates, p, threshold, scale, outScale) => void lstmChunk(table, from, to, gates, p, threshold, scale, outScale),
      backwardChunk: (table, from, to, dW, scratch, p, threshold, scale, outScale) =>
        void backwardChunk(table, from, to, dW, scratch, p, threshold, scale, outScale),
      ctl: new Int32Array(control),
      args: new Float32Array(control),
      job: 0,
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

/** The pool on the current kernel build (started on first use), or null where it cannot run. */
function currentPool(): Pool | null {
  if (pool !== undefined && pool !== null && pool.generation !== kernelGeneration()) {
    pool.stop();
    pool = undefined;
  }
  if (pool === undefined) pool = startPool();
  return pool;
}

/** One job of chunks over the coordinates [0, d) of a table in the shared memory. */
export interface ChunkJob {
  readonly kernel: 'forward' | 'backward';
  /** Byte offsets in the shared memory: the kernel's table, and each thread's scratch (scratchFloats(H) floats). */
  readonly table: number;
  readonly scratch: readonly [main: number, worker: number];
  readonly d: number;
  readonly p: number;
  readonly outScale: number;
  /** Backward: chunk c adds its weight gradient to dW.at + c · dW.stride (its own accumulator, so the sum does not depend on which thread ran it). */
  readonly dW?: { readonly at: number; readonly stride: number };
  /** Coordinates per chunk (default: as configured now); a caller that laid out one accumulator per chunk passes the size it counted with. */
  readonly chunk?: number;
}

/** The shared memory both threads run the kernels on, and the way to run a job of chunks there. */
export interface SharedKernels {
  /** Grows the memory to at least `bytes`; false if more than the build's 1 GiB. */
  reserve(bytes: number): boolean;
  f32(): Float32Array;
  u32(): Uint32Array;
  /** Runs the job on this thread, and the worker too when `threads` is 2; returns when every chunk is done. */
  run(job: ChunkJob, threads: 1 | 2): void;
  /** Chunks the worker has taken since the pool started (a diagnostic). */
  workerChunks(): number;
}

/** The shared memory and the worker (started on first use), or null where threads cannot run here. */
export function sharedKernels(): SharedKernels | null {
  const P = currentPool();
  if (P === null) return null;
  P.last = null; // the caller lays out the memory its own way: parallelLstmStep's state slots are gone
  return kernelsOf(P);
}

function kernelsOf(P: Pool): SharedKernels {
  return {
    reserve: (bytes) => {
      const pages = Math.ceil(bytes / PAGE);
      if (pages > MAX_PAGES) return false;
      const have = P.memory.buffer.byteLength / PAGE;
      if (pages > have) P.memory.grow(pages - have);
      return true;
    },
    f32: () => new Float32Array(P.memory.buffer),
    u32: () => new Uint32Array(P.memory.buffer),
    run: (job, threads) => runJob(P, job, threads),
    workerChunks: () => Atomics.load(P.ctl, 13),
  };
}

function runJob(P: Pool, job: ChunkJob, threads: 1 | 2): void {
  const CHUNK = job.chunk ?? chunkSize;
  const chunks = Math.ceil(job.d / CHUNK);
  if (chunks > MAX_CHUNKS) throw new RangeError(`l2o kernels: ${chunks} chunks of ${CHUNK} coordinates is more than a job can count (${MAX_CHUNKS})`);
  const { ctl, args } = P;
  const threshold = Math.exp(-job.p);
  const scale = Math.exp(job.p);
  P.job = (P.job + 1) & 0x3fffffff;
  const tag = P.job & 0x7fff;
  ctl[1] = job.table;
  args.set([job.p, threshold, scale, job.outScale], 2);
  ctl[6] = 0;
  ctl[9] = chunks;
  ctl[10] = job.d;
  ctl[11] = job.scratch[1];
  ctl[12] = CHUNK;
  ctl[14] = job.kernel === 'forward' ? 0 : 1;
  ctl[15] = job.dW?.at ?? 0;
  ctl[16] = job.dW?.stride ?? 0;
  Atomics.store(ctl, 7, 0);
  Atomics.store(ctl, 8, tag << 16); // opens the job's chunks (the parameters above are visible first)
  const two = threads === 2;
  const before = Atomics.load(ctl, 13);
  if (two) {
    Atomics.store(ctl, 0, P.job); // wakes the worker
    Atomics.notify(ctl, 0);
    if (workerFirst) {
      for (let t = Date.now(); Atomics.load(ctl, 13) === before;) {
        if (Date.now() - t > 30_000) throw new Error('l2o kernels: the LSTM worker thread took no chunk in 30 s');
        Atomics.wait(ctl, 13, before, 100);
      }
    }
  }
  for (;;) {
    const cur = Atomics.load(ctl, 8);
    const c = cur & 0xffff;
    if (c >= chunks) break;
    if (two && Atomics.compareExchange(ctl, 8, cur, cur + 1) !== cur) continue;
    if (!two) ctl[8] = cur + 1;
    const from = c * CHUNK;
    const to = Math.min(job.d, from + CHUNK);
    if (job.kernel === 'forward') P.lstmChunk(job.table, from, to, job.scratch[0], job.p, threshold, scale, job.outScale);
    else P.backwardChunk(job.table, from, to, job.dW!.at + c * job.dW!.stride, job.scratch[0], job.p, threshold, scale, job.outScale);
    Atomics.add(ctl, 7, 1);
  }
  for (let done = Atomics.load(ctl, 7); done < chunks; done = Atomics.load(ctl, 7)) Atomics.wait(ctl, 7, done);
  if (ctl[6] !== 0) throw new Error('l2o kernels: the LSTM worker thread failed');
}

/**
 * One LSTM step on two threads, reading inputs from and writing outputs to tfjs's heap
 * (`k`). Returns false (nothing written) where the two-thread path cannot run.
 */
export function parallelLstmStep(k: Kernels, a: ParallelArgs): boolean {
  const P = currentPool();
  if (P === null || Math.ceil(a.d / chunkSize) > MAX_CHUNKS) return false;
  const { d, H, L } = a;
  const stateBytes = 4 * d * H;
  // Layout: the table, constants, weights, two state slots, grads, update, pre, two scratch blocks.
  const tableWords = 10 + 4 * L;
  const tablesAt = 0;
  const constantsAt = align16(4 * tableWords);
  const weightsAt = constantsAt + 4 * CONSTANTS.length;
  const slotAt = [align16(weightsAt + 4 * a.weights.length)];
  slotAt.push(slotAt[0]! + 2 * L * stateBytes);
  const gradsAt = slotAt[1]! + 2 * L * stateBytes;
  const updateAt = align16(gradsAt + 4 * d);
  const preAt = align16(updateAt + 4 * d);
  const scratchBytes = 4 * scratchFloats(H);
  const tilesAt = align16(preAt + 8 * d);
  const shared = kernelsOf(P);
  if (!shared.reserve(tilesAt + 2 * scratchBytes)) return false;

  const f32 = shared.f32();
  const heap = k.heapF32();
  const sameKey = P.last !== null && P.last.key.length === a.stateKey.length && P.last.key.every((id, i) => id === a.stateKey[i]);
  const inSlot = sameKey ? P.last!.slot : 0;
  const outSlot = 1 - inSlot;
  if (!sameKey) {
    a.stateIn.forEach((off, i) => f32.set(heap.subarray(off / 4, off / 4 + d * H), (slotAt[inSlot]! + i * stateBytes) / 4));
  }
  f32.set(heap.subarray(a.grads / 4, a.grads / 4 + d), gradsAt / 4);
  f32.set(a.weights, weightsAt / 4);
  const u32 = shared.u32();
  u32.set(CONSTANTS, constantsAt / 4);
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
    0, // no gates saved
  ];
  u32.set(table, tablesAt / 4);
  runJob(P, { kernel: 'forward', table: tablesAt, scratch: [tilesAt, tilesAt + scratchBytes], d, p: a.p, outScale: a.outScale }, 2);

  const out = k.heapF32(); // the tfjs heap may have grown since `heap`
  out.set(f32.subarray(updateAt / 4, updateAt / 4 + d), a.update / 4);
  a.stateOut.forEach((off, i) => {
    const from = (slotAt[outSlot]! + i * stateBytes) / 4;
    out.set(f32.subarray(from, from + d * H), off / 4);
  });
  P.last = { slot: outSlot, key: a.outKey };
  return true;
}
