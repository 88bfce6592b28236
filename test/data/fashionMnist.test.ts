import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { FASHION_MNIST_DIR, loadFashionMnist } from '../../src/data/mnist.js';

// Debian's dataset-fashion-mnist; CI installs it, so there a missing package fails the test.
const installed = existsSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz'));

describe.skipIf(!installed && process.env['CI'] === undefined)('Fashion-MNIST from the Debian package (gzipped IDX)', () => {
  it('decodes 50 000 / 10 000 / 10 000 images, 6 000 per class in training and 1 000 per class in test', () => {
    const r = loadFashionMnist();
    if (E.isLeft(r)) throw r.left;
    const { train, validation, test } = r.right;
    expect([train.count, validation?.count, test.count]).toEqual([50_000, 10_000, 10_000]);
    const hist = (labels: Iterable<number>[]) => {
      const h = new Array<number>(10).fill(0);
      for (const ys of labels) for (const y of ys) h[y]! += 1;
      return h;
    };
    expect(hist([train.y, validation!.y])).toEqual(new Array(10).fill(6000));
    expect(hist([test.y])).toEqual(new Array(10).fill(1000));
    const raw = gunzipSync(readFileSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')));
    for (const j of [0, 400, 783]) expect(test.x[5 * 784 + j]).toBe(Math.fround(raw[16 + 5 * 784 + j]! / 255));
  });
});
