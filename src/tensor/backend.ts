import * as tf from '@tensorflow/tfjs';
import { registerWasmKernels } from './wasmKernels.js';

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';
export const BACKENDS: readonly BackendName[] = ['tensorflow', 'wasm', 'cpu'];

/** Native TensorFlow bindings, tried in this order: optional peer dependencies, used when the user installed one. */
const NATIVE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'];

async function loadNative(): Promise<string | undefined> {
  for (const name of NATIVE_PACKAGES) {
    try {
      // A non-literal specifier keeps type-checking independent of the optional package.
      const specifier: string = name;
      await import(specifier);
      if (tf.findBackendFactory('tensorflow') !== null) return name;
    } catch {
      // not installed or its native library is missing: try the next one
    }
  }
  return undefined;
}

/** Loads @tensorflow/tfjs-backend-wasm, whose import registers the backend: only on request, never on import of lgl2o. */
async function loadWasm(): Promise<boolean> {
  try {
    await import('@tensorflow/tfjs-backend-wasm');
    return tf.findBackendFactory('wasm') !== null;
  } catch {
    return false;
  }
}

async function activate(name: BackendName): Promise<boolean> {
  if (name === 'tensorflow' && (await loadNative()) === undefined) return false;
  if (name === 'wasm') {
    if (!(await loadWasm())) return false;
    registerWasmKernels();
  }
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name;
  } catch {
    return false;
  }
}

export function parseBackendName(value: string): BackendName | undefined {
  return BACKENDS.find((b) => b === value);
}

/**
 * Importing lgl2o changes no TensorFlow.js global; this call does: it may load a backend package,
 * make its backend the active one, and set tfjs's PROD flag.
 * Chooses the backend once: `LGL2O_BACKEND` if set (an error if it cannot start),
 * else tensorflow, then wasm, then cpu.
 */
export async function selectBackend(override = process.env['LGL2O_BACKEND']): Promise<BackendName> {
  // Production mode: no debug checks, and no console banner suggesting tfjs-node.
  tf.env().set('PROD', true);
  if (override !== undefined && override !== '') {
    const wanted = parseBackendName(override);
    if (wanted === undefined) {
      throw new Error(`LGL2O_BACKEND=${override}: expected one of ${BACKENDS.join(', ')}`);
    }
    if (!(await activate(wanted))) throw new Error(`LGL2O_BACKEND=${override}: backend could not start`);
    return wanted;
  }
  for (const name of BACKENDS) if (await activate(name)) return name;
  throw new Error('no TensorFlow.js backend could start');
}

/** The backend in use, for run metadata. */
export function currentBackend(): string {
  return tf.getBackend();
}

/**
 * Checks that TensorFlow.js has a usable backend before lgl2o starts work, and says what to do
 * when it has not (a backend registered but not yet started, e.g. wasm without `await`).
 */
export function assertBackendReady(what: string): void {
  try {
    tf.backend();
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new Error(`lgl2o ${what}: no TensorFlow.js backend is ready (${reason}); call \`await selectBackend()\` from lgl2o (or \`await tf.ready()\`) first`, {
      cause: err,
    });
  }
}
