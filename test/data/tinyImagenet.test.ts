import { rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { Dataset } from '../../src/data/dataset.js';
import { MissingDataError } from '../../src/data/files.js';
import { loadDataset } from '../../src/data/index.js';
import { chooseClasses, loadTinyImagenet } from '../../src/data/tinyImagenet.js';
import { classColour, flatJpeg, tempDir, wnidOf, writeTinyImagenet } from './fixtures.js';

const CLASSES = 53;

describe('Tiny-ImageNet folder layout (generated JPEGs)', () => {
  const parent = tempDir('tiny');
  const root = join(parent, 'tiny-imagenet-200');
  writeTinyImagenet(root, CLASSES, 10, 2);
  const wnids = Array.from({ length: CLASSES }, (_, k) => wnidOf(k));

  /** The class an image shows, read from its red channel (classColour: red = 4k). */
  const shownClass = (ds: Dataset, i: number) => Math.round((ds.x[i * 64 * 64 * 3]! * 255) / 4);

  it('draws 50 of the classes by seed, keeps wnids.txt order, and labels each image with its class', () => {
    const r = loadDataset('tinyimagenet50', { dataDir: parent, seed: 11 });
    if (E.isLeft(r)) throw r.left;
    const { train, validation, test, classes, shape } = r.right;
    expect([classes, shape]).toEqual([50, [64, 64, 3]]);
    // 10 training images per class: 9 train, 1 validation; 2 val images per class → test
    expect([train.count, validation?.count, test.count]).toEqual([450, 50, 100]);
    const chosen = chooseClasses(wnids, 50, 11);
    expect(new Set(chosen).size).toBe(50);
    expect([...chosen].sort()).toEqual(chosen);
    for (const ds of [train, validation!, test]) {
      for (let i = 0; i < ds.count; i++) expect(wnidOf(shownClass(ds, i))).toBe(chosen[ds.y[i]!]);
    }
  });

  it('decodes pixels to within JPEG rounding of the encoded colour, scaled to [0, 1]', () => {
    const r = loadTinyImagenet({ dataDir: root, seed: 11, classes: 3 });
    if (E.isLeft(r)) throw r.left;
    const { train } = r.right;
    for (const i of [0, 9, 26]) {
      const colour = classColour(shownClass(train, i));
      for (const p of [0, 1000, 4095]) {
        for (let c = 0; c < 3; c++) expect(Math.abs(train.x[(i * 4096 + p) * 3 + c]! * 255 - colour[c]!)).toBeLessThanOrEqual(3);
      }
    }
  });

  it('gives the same classes for the same seed and other classes for another seed', () => {
    expect(chooseClasses(wnids, 50, 11)).toEqual(chooseClasses(wnids, 50, 11));
    expect(chooseClasses(wnids, 50, 12)).not.toEqual(chooseClasses(wnids, 50, 11));
    const a = loadTinyImagenet({ dataDir: root, seed: 5, classes: 4 });
    const b = loadTinyImagenet({ dataDir: root, seed: 5, classes: 4 });
    if (E.isLeft(a) || E.isLeft(b)) throw new Error('load failed');
    expect(Array.from(a.right.train.y)).toEqual(Array.from(b.right.train.y));
    expect(Buffer.from(a.right.train.x.buffer).equals(Buffer.from(b.right.train.x.buffer))).toBe(true);
  });

  it('says where it looked for wnids.txt and how to get the data', () => {
    const r = loadTinyImagenet({ dataDir: join(parent, 'nowhere'), seed: 0 });
    if (E.isRight(r)) throw new Error('expected missing data');
    expect(r.left instanceof MissingDataError && r.left.tried).toEqual([
      join(parent, 'nowhere', 'wnids.txt'),
      join(parent, 'nowhere', 'tiny-imagenet-200', 'wnids.txt'),
    ]);
    expect(r.left.message).toContain('tiny-imagenet-200.zip');
  });

  it('rejects a wrong image size, an undecodable JPEG, an unknown class and too few classes, naming file and line', () => {
    const bad = tempDir('tiny-bad');
    writeTinyImagenet(bad, 2, 10, 1);
    const first = join(bad, 'train', wnidOf(0), 'images', `${wnidOf(0)}_3.JPEG`);
    writeFileSync(first, flatJpeg(32, [1, 2, 3]));
    const size = loadTinyImagenet({ dataDir: bad, seed: 0, classes: 2 });
    expect(E.isLeft(size) && size.left.message).toBe(`${first}: expected a 64×64 image, got 32×32`);
    writeFileSync(first, Buffer.from('not a jpeg at all'));
    const corrupt = loadTinyImagenet({ dataDir: bad, seed: 0, classes: 2 });
    expect(E.isLeft(corrupt) && corrupt.left.message).toMatch(new RegExp(`^${first}: not a decodable JPEG`));
    rmSync(first);
    appendFileSync(join(bad, 'val', 'val_annotations.txt'), 'val_9.JPEG\tn99999999\t0\t0\t1\t1\n');
    const unknown = loadTinyImagenet({ dataDir: bad, seed: 0, classes: 2 });
    expect(E.isLeft(unknown) && unknown.left.message).toBe(`${join(bad, 'val', 'val_annotations.txt')}: line 3: class n99999999 is not in wnids.txt`);
    const few = loadTinyImagenet({ dataDir: bad, seed: 0 });
    expect(E.isLeft(few) && few.left.message).toBe(`${join(bad, 'wnids.txt')}: lists 2 classes, fewer than the 50 asked for`);
  });
});
