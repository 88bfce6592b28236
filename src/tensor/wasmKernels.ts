import { getKernel, registerKernel, unregisterKernel, type KernelConfig } from '@tensorflow/tfjs';
import { conv2dBackpropFilterWasm } from './kernels/conv2dBackpropFilter.js';
import { conv2dBackpropInputWasm } from './kernels/conv2dBackpropInput.js';

/**
 * Kernels the wasm backend lacks (Conv2DBackpropFilter) or runs slowly (Conv2DBackpropInput)
 * and this project needs; each is checked against `cpu` in a test.
 */
const WASM_KERNELS: KernelConfig[] = [conv2dBackpropFilterWasm, conv2dBackpropInputWasm];

let registered = false;

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  for (const kernel of WASM_KERNELS) {
    // Replacing the backend's own kernel: unregister first (registering over it only warns).
    if (getKernel(kernel.kernelName, 'wasm') !== undefined) unregisterKernel(kernel.kernelName, 'wasm');
    registerKernel({ ...kernel, backendName: 'wasm' });
  }
}
