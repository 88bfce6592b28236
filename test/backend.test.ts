import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseBackendName, selectBackend } from '../src/tensor/backend.js';

describe('backend selection', () => {
  afterAll(async () => {
    await selectBackend('wasm');
  });

  it('honours LGL2O_BACKEND and reports the backend in use', async () => {
    expect(await selectBackend('cpu')).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect(await selectBackend('wasm')).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
  });

  it('rejects an unknown override with the list of backends', async () => {
    await expect(selectBackend('gpu')).rejects.toThrow('LGL2O_BACKEND=gpu: expected one of tensorflow, wasm, cpu');
  });

  it('says so when the native backend cannot start', async () => {
    // @tensorflow/tfjs-node cannot install on these machines (no internet for libtensorflow).
    const specifier: string = '@tensorflow/tfjs-node';
    const native = await import(specifier).then(
      () => true,
      () => false,
    );
    if (native) expect(await selectBackend('tensorflow')).toBe('tensorflow');
    else await expect(selectBackend('tensorflow')).rejects.toThrow('LGL2O_BACKEND=tensorflow: backend could not start');
  });

  it('falls back to wasm without an override when native TensorFlow is absent', async () => {
    expect(await selectBackend('')).toBe('wasm');
    expect(parseBackendName('cpu')).toBe('cpu');
    expect(parseBackendName('metal')).toBeUndefined();
  });
});
