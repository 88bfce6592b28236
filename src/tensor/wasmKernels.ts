import { registerKernel, type KernelConfig } from '@tensorflow/tfjs';

/** Kernels the wasm backend lacks and this project needs; each is checked against `cpu` in a test. */
const WASM_KERNELS: KernelConfig[] = [];

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const kernel of WASM_KERNELS) registerKernel({ ...kernel, backendName: 'wasm' });
}
