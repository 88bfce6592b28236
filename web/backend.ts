import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-webgpu';
import { registerWasmKernels } from '../src/tensor/wasmKernels.js';
import { BACKEND_CHOICES, type BackendChoice } from './protocol.js';

/**
 * The browser's backends in the order tried when none is asked for: wasm first, because it is
 * the fastest for the demo's small MLP and LSTM (per-op overhead dominates: WebGL and WebGPU
 * pay a GPU round trip for every loss the guard reads back) and gives Node's numbers.
 */
export const BROWSER_ORDER: readonly BackendChoice[] = BACKEND_CHOICES;

/** Starts a backend; returns why it could not, or null. */
export async function startBackend(name: BackendChoice, wasmDirectory: string): Promise<string | null> {
  tf.env().set('PROD', true);
  setWasmPaths(wasmDirectory);
  if (name === 'wasm') registerWasmKernels();
  try {
    return (await tf.setBackend(name)) && tf.getBackend() === name ? null : 'it did not start';
  } catch (err) {
    return `it did not start (${err instanceof Error ? err.message : String(err)})`;
  }
}

/** Chooses the backend once; `wanted` must start or this fails (a link asked for it). */
export async function selectBrowserBackend(wanted: BackendChoice | undefined, wasmDirectory: string): Promise<BackendChoice> {
  /** Why `name` cannot serve the library here, or null when it started and reads back correctly. */
  const activate = async (name: BackendChoice): Promise<string | null> => {
    const problem = await startBackend(name, wasmDirectory);
    if (problem !== null) return problem;
    // The guard reads losses synchronously (dataSync); a backend whose synchronous read-back
    // is wrong here (tfjs's WebGPU backend returns zeros in Chromium 150) would make every comparison a tie.
    const probe = tf.tidy(() => tf.tensor1d([1, 2, 3]).square().sum().dataSync()[0]);
    return probe === 14 ? null : `its synchronous read-back (dataSync) returned ${probe} for 1² + 2² + 3²`;
  };
  if (wanted !== undefined) {
    const problem = await activate(wanted);
    if (problem !== null) throw new Error(`backend=${wanted}: cannot train here: ${problem}`);
    return wanted;
  }
  for (const name of BROWSER_ORDER) if ((await activate(name)) === null) return name;
  throw new Error('no TensorFlow.js backend could start in this browser');
}
