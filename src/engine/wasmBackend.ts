import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

// Type-only import: loading @tensorflow/tfjs-backend-wasm registers it as tfjs's preferred
// backend, so only `selectBackend()` loads it (importing lgl2o changes no tfjs global).

/** True when `b` is the registered (and started) wasm backend instance. */
export function isWasmBackend(b: unknown): b is BackendWasm {
  return typeof b === 'object' && b !== null && tf.findBackend('wasm') === b;
}

/** The active backend when it is wasm, else null (asks nothing of a backend that is not in use). */
export function activeWasmBackend(): BackendWasm | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend();
  return isWasmBackend(backend) ? backend : null;
}
