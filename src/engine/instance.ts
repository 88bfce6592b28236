import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { activeWasmBackend } from './wasmBackend.js';
import { KERNELS_RELAXED_SHARED_WASM_BASE64, KERNELS_RELAXED_WASM_BASE64, KERNELS_SHARED_WASM_BASE64, KERNELS_WASM_BASE64 } from './wasmBinary.js';

/**
 * The fused kernels of native/l2o_kernels.c, instantiated on the wasm backend's own memory:
 * they read and write tensors in place, by their heap offsets.
 */
export interface Kernels {
  readonly backend: BackendWasm;
  readonly lstmStep: (table: number, p: number, threshold: number, scale: number, outScale: number) => void;
  /** The vector–Jacobian product of one LSTM step (meta-training), same arguments. */
  readonly lstmBackward: (table: number, p: number, threshold: number, scale: number, outScale: number) => void;
  readonly mlp: (table: number) => void;
  readonly sgdUpdate: (n: number, x: number, g: number, out: number, lr: number) => void;
  readonly momentumUpdate: (n: number, x: number, g: number, velocity: number, out: number, velocityOut: number, lr: number, beta: number) => void;
  readonly adamUpdate: (table: number, constants: number) => void;
  /** Views of the heap, fresh after any allocation (a growing heap replaces the buffer). */
  heapF32(): Float32Array;
  heapU32(): Uint32Array;
  /** A 16-byte aligned scratch block of at least `bytes`, reused across calls (not a tensor). */
  scratch(bytes: number): number;
}

let enabled = true;
let compiled: WebAssembly.Module | null | undefined;
let backends = new WeakMap<BackendWasm, Kernels | null>();

/** Turns the fused kernels off (the tfjs-op path is used) or back on: for benchmarks and tests. */
export function setFastKernels(on: boolean): void {
  enabled = on;
}

export type KernelBuild = 'auto' | 'plain' | 'relaxed';
// This module also runs in browsers (the web demo): Node's process and modules only where present.
const nodeProcess: NodeJS.Process | undefined = globalThis.process;
let wantedBuild: KernelBuild = nodeProcess?.env['LGL2O_RELAXED_SIMD'] === '0' ? 'plain' : 'auto';
let override: Uint8Array<ArrayBuffer> | null = null;
let generation = 0;
const decode = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));

/**
 * Whether the relaxed-SIMD builds (fused multiply-add) can run. Node 20's V8 has relaxed SIMD
 * behind --experimental-wasm-relaxed-simd (on by default from V8 11.4, Node 22): the flag is
 * set if needed, and if the module still does not validate the plain builds are used.
 */
function relaxedSimd(): boolean {
  const probe = decode(KERNELS_RELAXED_WASM_BASE64);
  if (WebAssembly.validate(probe)) return true;
  const v8 = nodeProcess?.getBuiltinModule('node:v8');
  if (v8 === undefined) return false;
  try {
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return WebAssembly.validate(probe);
}

/** The modules in use: for tfjs's memory and for a shared one (parallel.ts), and which build. */
interface Binaries {
  readonly own: Uint8Array<ArrayBuffer>;
  readonly shared: Uint8Array<ArrayBuffer>;
  readonly build: 'plain' | 'relaxed';
  readonly generation: number;
}
let binaries: Binaries | undefined;

export function kernelBinaries(): Binaries {
  if (binaries === undefined) {
    const relaxed = wantedBuild !== 'plain' && relaxedSimd();
    binaries = {
      own: override ?? decode(relaxed ? KERNELS_RELAXED_WASM_BASE64 : KERNELS_WASM_BASE64),
      shared: decode(relaxed ? KERNELS_RELAXED_SHARED_WASM_BASE64 : KERNELS_SHARED_WASM_BASE64),
      build: relaxed ? 'relaxed' : 'plain',
      generation,
    };
  }
  return binaries;
}

/** Changes whenever the build changes (a worker on an older build must be replaced). */
export const kernelGeneration = (): number => generation;

function reload(): void {
  compiled = undefined;
  binaries = undefined;
  backends = new WeakMap();
  generation += 1;
}

/** Chooses the build: relaxed SIMD when available (auto, the default; LGL2O_RELAXED_SIMD=0: plain). */
export function setKernelBuild(build: KernelBuild): void {
  wantedBuild = build;
  reload();
}

/** Uses another build of native/l2o_kernels.c for tfjs's memory (for comparing builds in one process). */
export function setKernelBinary(bytes: Uint8Array | null): void {
  override = bytes === null ? null : new Uint8Array(bytes);
  reload();
}

function compile(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(kernelBinaries().own);
    } catch {
      compiled = null; // no SIMD in this engine: the tfjs-op path stays
    }
  }
  return compiled;
}

/** The heap memory and allocator of the backend's emscripten module, found without casts. */
function heapOf(backend: BackendWasm): { memory: WebAssembly.Memory; malloc: (n: number) => number; free: (p: number) => void } | null {
  const asm: unknown = Reflect.get(backend.wasm, 'asm');
  const memory: unknown = typeof asm === 'object' && asm !== null ? Reflect.get(asm, 'memory') : undefined;
  const malloc: unknown = Reflect.get(backend.wasm, '_malloc');
  const free: unknown = Reflect.get(backend.wasm, '_free');
  if (!(memory instanceof WebAssembly.Memory) || typeof malloc !== 'function' || typeof free !== 'function') return null;
  return { memory, malloc: (n) => Number(malloc(n)), free: (p) => void free(p) };
}

function instantiate(backend: BackendWasm): Kernels | null {
  const module = compile();
  const heap = heapOf(backend);
  if (module === null || heap === null) return null;
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
  const lstmStep: unknown = instance.exports['lstm_step'];
  const mlp: unknown = instance.exports['mlp'];
  const sgdUpdate: unknown = instance.exports['sgd_update'];
  const momentumUpdate: unknown = instance.exports['momentum_update'];
  const adamUpdate: unknown = instance.exports['adam_update'];
  const lstmBackward: unknown = instance.exports['lstm_backward'];
  if (typeof lstmStep !== 'function' || typeof lstmBackward !== 'function' || typeof mlp !== 'function') return null;
  if (typeof sgdUpdate !== 'function' || typeof momentumUpdate !== 'function' || typeof adamUpdate !== 'function') return null;
  let block = { ptr: 0, bytes: 0 };
  return {
    backend,
    lstmStep: (table, p, threshold, scale, outScale) => void lstmStep(table, p, threshold, scale, outScale),
    lstmBackward: (table, p, threshold, scale, outScale) => void lstmBackward(table, p, threshold, scale, outScale),
    mlp: (table) => void mlp(table),
    sgdUpdate: (n, x, g, out, lr) => void sgdUpdate(n, x, g, out, lr),
    momentumUpdate: (n, x, g, velocity, out, velocityOut, lr, beta) => void momentumUpdate(n, x, g, velocity, out, velocityOut, lr, beta),
    adamUpdate: (table, constants) => void adamUpdate(table, constants),
    heapF32: () => new Float32Array(heap.memory.buffer),
    heapU32: () => new Uint32Array(heap.memory.buffer),
    scratch: (bytes) => {
      if (bytes > block.bytes) {
        if (block.ptr !== 0) heap.free(block.ptr);
        const size = Math.max(bytes, 2 * block.bytes);
        const raw = heap.malloc(size + 16);
        if (raw === 0) throw new Error(`l2o kernels: could not allocate ${size} bytes of scratch on the wasm heap`);
        block = { ptr: raw, bytes: size };
      }
      return (block.ptr + 15) & ~15;
    },
  };
}

/** The kernels for the active backend, or null when it is not wasm, SIMD is missing or they are off. */
export function activeKernels(): Kernels | null {
  if (!enabled) return null;
  const backend = activeWasmBackend();
  if (backend === null) return null;
  let k = backends.get(backend);
  if (k === undefined) {
    k = instantiate(backend);
    backends.set(backend, k);
  }
  return k;
}

/** The kernels' constant table (the K_ indices in native/l2o_kernels.c); 14 holds int bits, 30 the smallest normal float. */
export const CONSTANTS = (() => {
  const buf = new ArrayBuffer(32 * 4);
  const f = new Float32Array(buf);
  f.set([-87.33654, 88.37626, Math.LOG2E, 1.5 * 2 ** 23, 0.693359375, -2.1219444e-4]);
  f.set([1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1], 6);
  new Int32Array(buf).set([127], 14);
  const tanhNumerator = [
    4.89352455891786e-3, 6.37261928875436e-4, 1.48572235717979e-5, 5.12229709037114e-8, -8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16,
  ];
  const tanhDenominator = [4.89352518554385e-3, 2.268434632439e-3, 1.18534705686654e-4, 1.19825839466702e-6];
  f.set([-7.90531110763549805, 7.90531110763549805, ...tanhNumerator, ...tanhDenominator, 0.5, 1.17549435e-38], 16);
  return new Uint32Array(buf);
})();

/** Bytes rounded up to a multiple of 16 (v128 alignment of the scratch sections). */
export const align16 = (bytes: number): number => 16 * Math.ceil(bytes / 16);

/** Byte offset on the wasm heap of a tensor (or tensor info) of this backend. */
export const heapOffset = (k: Kernels, t: { dataId: object }): number => k.backend.getMemoryOffset(t.dataId);

/** Whether a tensor lives on this backend as float32 data the kernels can address. */
export function onHeap(k: Kernels, t: tf.Tensor): boolean {
  return t.dtype === 'float32' && k.backend.dataIdMap.has(t.dataId);
}
