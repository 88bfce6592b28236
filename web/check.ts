import * as tf from '@tensorflow/tfjs';
import { generatedSplits } from '../src/data/synthetic.js';
import { gather } from '../src/data/dataset.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { mlp } from '../src/optimizee/mlp.js';
import { Rng } from '../src/tensor/rng.js';
import { startBackend } from './backend.js';
import type { BackendChoice } from './protocol.js';

/** The spirals MLP's loss, per-example losses and gradient at seeded parameters, on one backend. */
export interface MlpCheck {
  readonly backend: string;
  readonly loss: number;
  readonly perExample: number[];
  readonly grad: number[];
}

/**
 * A backend check for tests (check.html): the library's MLP forward and backward pass on the
 * backend asked for, so that a test can hold WebGPU or WebGL against cpu in a real browser.
 */
async function mlpCheck(backend: BackendChoice, seed = 1): Promise<MlpCheck> {
  const problem = await startBackend(backend, new URL('wasm/', location.href).href);
  if (problem !== null) throw new Error(`backend ${backend}: ${problem}`);
  const chosen = tf.getBackend();
  const objective = mlp([2, 20, 2]);
  const train = generatedSplits('spirals', seed).train;
  const batch = toTensorBatch([
    gather(
      train,
      Array.from({ length: 128 }, (_, i) => i),
    ),
  ]);
  const x = objective.init(Rng.seeded(seed));
  try {
    const { loss, grad } = objective.lossAndGrad(x, batch);
    const perExample = objective.perExampleLoss(x, batch);
    const result = { backend: chosen, loss: (await loss.data())[0]!, perExample: Array.from(await perExample.data()), grad: Array.from(await grad.data()) };
    tf.dispose([loss, grad, perExample]);
    return result;
  } finally {
    x.dispose();
    disposeTensorBatch(batch);
  }
}

/** 1² + 2² + 3² read back synchronously (dataSync) on a backend: 14 where synchronous reads work. */
async function syncReadBack(backend: BackendChoice): Promise<number | undefined> {
  const problem = await startBackend(backend, new URL('wasm/', location.href).href);
  if (problem !== null) return undefined;
  return tf.tidy(() => tf.tensor1d([1, 2, 3]).square().sum().dataSync()[0]);
}

/** Whether this browser offers a WebGPU adapter, and if not, what is missing. */
async function webgpuAdapter(): Promise<string | null> {
  if (!isSecureContext) return 'not a secure context';
  if (!('gpu' in navigator) || navigator.gpu === undefined) return 'navigator.gpu is undefined (WebGPU not enabled in this browser)';
  const adapter = await navigator.gpu.requestAdapter();
  return adapter === null ? 'navigator.gpu.requestAdapter() returned null (no adapter: no GPU and no SwiftShader fallback enabled)' : null;
}

Object.assign(globalThis, { lgl2oCheck: { mlpCheck, webgpuAdapter, syncReadBack } });
document.body.dataset['ready'] = '1';
