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

/** Chooses the backend once; `wanted` must start or this fails (a link asked for it). */
export async function selectBrowserBackend(wanted: BackendChoice | undefined, wasmDirectory: string): Promise<BackendChoice> {
  tf.env().set('PROD', true);
  setWasmPaths(wasmDirectory);
  const activate = async (name: BackendChoice): Promise<boolean> => {
    if (name === 'wasm') registerWasmKernels();
    try {
      return (await tf.setBackend(name)) && tf.getBackend() === name;
    } catch {
      return false;
    }
  };
  if (wanted !== undefined) {
    if (!(await activate(wanted))) throw new Error(`backend=${wanted}: this browser cannot start it`);
    return wanted;
  }
  for (const name of BROWSER_ORDER) if (await activate(name)) return name;
  throw new Error('no TensorFlow.js backend could start in this browser');
}
