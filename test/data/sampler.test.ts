import { firstValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { BatchSampler } from '../../src/data/sampler.js';
import type { Batch } from '../../src/data/batch.js';
import { batches$ } from '../../streams/source.js';

/** Example i has features (i, −i) and label i mod 10, so a batch tells which examples it holds. */
const indexed = (count: number): Dataset => ({
  name: 'indexed',
  x: Float32Array.from({ length: 2 * count }, (_, k) => (k % 2 === 0 ? k / 2 : -(k - 1) / 2)),
  y: Int32Array.from({ length: count }, (_, i) => i % 10),
  shape: [2],
  count,
  classes: 10,
});
const ids = (b: Batch) => Array.from({ length: b.size }, (_, i) => b.x[2 * i]!);
const take$ = (ds: Dataset, seed: number, n: number) => firstValueFrom(batches$(ds, { seed }).pipe(take(n), toArray()));

describe('seeded batch streams', () => {
  const ds = indexed(1000);

  it('give the same batches of 128 for the same seed and different ones for another seed', async () => {
    const a = await take$(ds, 7, 20);
    const b = await take$(ds, 7, 20);
    const c = await take$(ds, 8, 20);
    expect(a.map(ids)).toEqual(b.map(ids));
    expect(a.map(ids)).not.toEqual(c.map(ids));
    for (const batch of a) {
      expect(batch.size).toBe(128);
      expect(batch.shape).toEqual([2]);
      ids(batch).forEach((id, i) => {
        expect(batch.x[2 * i + 1]).toBe(-id);
        expect(batch.y[i]).toBe(id % 10);
      });
    }
  });

  it('cycle epochs: each epoch of ⌊1000/128⌋ = 7 batches holds distinct examples, in a new order each epoch', async () => {
    const batches = (await take$(ds, 3, 21)).map(ids);
    const epochs = [0, 1, 2].map((e) => batches.slice(7 * e, 7 * e + 7).flat());
    for (const epoch of epochs) {
      expect(new Set(epoch).size).toBe(896);
      expect(epoch.every((id) => Number.isInteger(id) && id >= 0 && id < 1000)).toBe(true);
    }
    expect(epochs[1]).not.toEqual(epochs[0]);
  });

  it('resume from a saved sampler state with exactly the batches the uninterrupted sampler gives', () => {
    const whole = new BatchSampler(ds, 128, 5);
    const expected = Array.from({ length: 16 }, () => ids(whole.next()));
    const first = new BatchSampler(ds, 128, 5);
    for (let i = 0; i < 10; i++) first.next();
    const resumed = new BatchSampler(ds, 128, 99);
    resumed.restore(JSON.parse(JSON.stringify(first.state())));
    expect(Array.from({ length: 6 }, () => ids(resumed.next()))).toEqual(expected.slice(10));
  });
});
