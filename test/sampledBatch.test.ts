import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../src/data/dataset.js';
import { BatchSampler } from '../src/data/sampler.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import type { Batch } from '../src/data/batch.js';
import { Rng } from '../src/tensor/rng.js';

// 10 examples of shape [2, 3] whose features name them: example i holds 10 i + k at position k.
const count = 10;
const features = 6;
const dataset = (labels: 'int' | 'float'): Dataset => ({
  name: 'numbered',
  x: Float32Array.from({ length: count * features }, (_, n) => 10 * Math.floor(n / features) + (n % features)),
  y: labels === 'int' ? Int32Array.from({ length: count }, (_, i) => i % 3) : Float32Array.from({ length: count }, (_, i) => i / 4),
  shape: [2, 3],
  count,
});
const rows = (indices: readonly number[]) => indices.flatMap((i) => Array.from({ length: features }, (_, k) => 10 * i + k));

/** The examples of the first `batches` batches of 4, worked out from the sampler's rule: a permutation per epoch, a partial batch skipped. */
function expectedIndices(seed: number, batches: number): number[][] {
  const rng = Rng.seeded(seed);
  const out: number[][] = [];
  while (out.length < batches) {
    const p = Array.from(rng.permutation(count));
    out.push(p.slice(0, 4), p.slice(4, 8));
  }
  return out.slice(0, batches);
}

const backends = ['wasm', 'cpu'] as const;
afterAll(() => tf.setBackend('wasm'));

for (const backend of backends) {
  describe(`sampled batches as tensors (${backend})`, () => {
    it('hold the examples of the seeded permutation, across epochs, read or not before', async () => {
      await tf.setBackend(backend);
      const ds = dataset('int');
      const sampler = new BatchSampler(ds, 4, 7);
      const expected = expectedIndices(7, 5);
      for (let b = 0; b < 5; b++) {
        const batch = sampler.next();
        if (b % 2 === 1) expect(Array.from(batch.x)).toEqual(rows(expected[b]!)); // read first: the copy kept is used
        const count0 = tf.memory().numTensors;
        const tb = toTensorBatch([batch]);
        expect(tf.memory().numTensors).toBe(count0 + 2);
        expect(tb.x.shape).toEqual([4, 2, 3]);
        expect(Array.from(tb.x.dataSync())).toEqual(rows(expected[b]!));
        expect(Array.from(tb.y.dataSync())).toEqual(expected[b]!.map((i) => i % 3));
        expect(tb.y.dtype).toBe('int32');
        disposeTensorBatch(tb);
      }
    });

    it('concatenate sampled and plain batches in order; float targets stay float', async () => {
      await tf.setBackend(backend);
      const ds = dataset('float');
      const sampler = new BatchSampler(ds, 4, 3);
      const [first, second] = expectedIndices(3, 2);
      const plain: Batch = { x: Float32Array.from(rows([9])), y: new Float32Array([5]), shape: [2, 3], size: 1 };
      const tb = toTensorBatch([sampler.next(), plain, sampler.next()]);
      expect(tb.size).toBe(9);
      expect(Array.from(tb.x.dataSync())).toEqual(rows([...first!, 9, ...second!]));
      expect(tb.y.dtype).toBe('float32');
      expect(Array.from(tb.y.dataSync())).toEqual([...first!.map((i) => i / 4), 5, ...second!.map((i) => i / 4)]);
      disposeTensorBatch(tb);
    });

    it('a plain batch whose data does not fill its shape is refused, as before', async () => {
      await tf.setBackend(backend);
      const count0 = tf.memory().numTensors;
      const short: Batch = { x: new Float32Array(5), y: new Int32Array(1), shape: [2, 3], size: 1 };
      expect(() => toTensorBatch([short])).toThrow();
      expect(tf.memory().numTensors).toBe(count0);
    });
  });
}
