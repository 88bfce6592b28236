import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { KERNELS_WASM_BASE64 } from './wasmBinary.js';

/**
 * The fused kernels of native/l2o_kernels.c, instantiated on the wasm backend's own memory:
 * they read and write tensors in place, by their heap offsets.
 */
export interface Kernels {
  readonly backend: BackendWasm;
  readonly lstmStep: (table: number, p: number, threshold: number, scale: number, outScale: number) => void;
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

let binary = new Uint8Array(Buffer.from(KERNELS_WASM_BASE64, 'base64'));

/** Uses another build of native/l2o_kernels.c (for comparing builds in one process). */
export function setKernelBinary(bytes: Uint8Array): void {
  binary = new Uint8Array(bytes);
  compiled = undefined;
  backends = new WeakMap();
}

function compile(): WebAssembly.Module | null {
  if (compiled === undefined) {
    try {
      compiled = new WebAssembly.Module(binary);
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
  if (typeof lstmStep !== 'function') return null;
  let block = { ptr: 0, bytes: 0 };
  return {
    backend,
    lstmStep: (table, p, threshold, scale, outScale) => void lstmStep(table, p, threshold, scale, outScale),
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
  const backend = tf.backend();
  if (!(backend instanceof BackendWasm)) return null;
  let k = backends.get(backend);
  if (k === undefined) {
    k = instantiate(backend);
    backends.set(backend, k);
  }
  return k;
}

/** Whether a tensor lives on this backend as float32 data the kernels can address. */
export function onHeap(k: Kernels, t: tf.Tensor): boolean {
  return t.dtype === 'float32' && k.backend.dataIdMap.has(t.dataId);
}
