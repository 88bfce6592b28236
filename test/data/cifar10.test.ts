import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { loadCifar10 } from '../../src/data/cifar10.js';
import { MissingDataError } from '../../src/data/files.js';
import { loadDataset } from '../../src/data/index.js';
import { cifarBatch, cifarByte, cifarLabel, tempDir, writeCifar } from './fixtures.js';

const RECORDS = 20; // per file: 5 × 20 = 100 training records, 20 test records

describe('CIFAR-10 binary batches (generated in the real format)', () => {
  const dir = tempDir('cifar');
  writeCifar(dir, RECORDS);

  it('splits data_batch_1..5 into 90% train and the last 10% validation; test_batch is test', () => {
    const r = loadCifar10({ dataDir: dir });
    if (E.isLeft(r)) throw r.left;
    const { train, validation, test } = r.right;
    expect([train.count, validation?.count, test.count]).toEqual([90, 10, 20]);
    expect(train.shape).toEqual([32, 32, 3]);
    // training record k comes from file 1 + ⌊k/20⌋, record k mod 20; validation starts at k = 90
    expect(Array.from(train.y.subarray(0, 3))).toEqual([cifarLabel(1, 0), cifarLabel(1, 1), cifarLabel(1, 2)]);
    expect(validation!.y[0]).toBe(cifarLabel(5, 10));
    expect(test.y[19]).toBe(cifarLabel(0, 19));
  });

  it('turns the CHW planes into HWC pixels / 255', () => {
    const r = loadCifar10({ dataDir: dir });
    if (E.isLeft(r)) throw r.left;
    const { train, test } = r.right;
    const at = (k: number, h: number, w: number, c: number) => (k * 1024 + h * 32 + w) * 3 + c;
    for (const [h, w] of [
      [0, 0],
      [0, 31],
      [5, 7],
      [31, 31],
    ] as const) {
      for (let c = 0; c < 3; c++) {
        // record 25 of train is record 5 of data_batch_2
        expect(train.x[at(25, h, w, c)]).toBe(Math.fround(cifarByte(2, 5, c, h * 32 + w) / 255));
        expect(test.x[at(3, h, w, c)]).toBe(Math.fround(cifarByte(0, 3, c, h * 32 + w) / 255));
      }
    }
  });

  it('puts a record with red plane 255, green 0, blue 51 at every pixel as (1, 0, 0.2)', () => {
    const one = tempDir('cifar-one');
    writeCifar(one, 1);
    const record = Buffer.alloc(3073);
    record[0] = 3;
    record.fill(255, 1, 1025);
    record.fill(51, 2049, 3073);
    writeFileSync(join(one, 'test_batch.bin'), record);
    const r = loadCifar10({ dataDir: one });
    if (E.isLeft(r)) throw r.left;
    expect(r.right.test.y[0]).toBe(3);
    const px = r.right.test.x;
    expect(Array.from(px.subarray(0, 6))).toEqual([1, 0, Math.fround(0.2), 1, 0, Math.fround(0.2)]);
    expect(Array.from(px.subarray(px.length - 3))).toEqual([1, 0, Math.fround(0.2)]);
  });

  it('is found through the registry, inside cifar-10-batches-bin/ of the data directory', () => {
    const parent = tempDir('cifar-parent');
    const inner = join(parent, 'cifar-10-batches-bin');
    mkdirSync(inner);
    writeCifar(inner, 2);
    const r = loadDataset('cifar10', { dataDir: parent, seed: 0 });
    if (E.isLeft(r)) throw r.left;
    expect(r.right.classes).toBe(10);
    expect(r.right.shape).toEqual([32, 32, 3]);
    expect(r.right.train.count + r.right.validation!.count).toBe(10);
  });

  it('rejects a truncated record and a bad label at their byte offsets', () => {
    const bad = tempDir('cifar-bad');
    writeCifar(bad, 2);
    const file3 = join(bad, 'data_batch_3.bin');
    writeFileSync(file3, Buffer.concat([cifarBatch(3, 2), Buffer.alloc(100)]));
    const cut = loadCifar10({ dataDir: bad });
    expect(E.isLeft(cut) && cut.left.message).toBe(
      `${file3}: byte 6146: record 2 is truncated (100 of 3073 bytes); the file size 6246 is not a multiple of 3073`,
    );
    const labelled = cifarBatch(3, 2);
    labelled[3073] = 10;
    writeFileSync(file3, labelled);
    const label = loadCifar10({ dataDir: bad });
    expect(E.isLeft(label) && label.left.message).toBe(`${file3}: byte 3073: label 10 of record 1 is not in [0, 10)`);
  });

  it('names each missing file, every place it looked, and how to get CIFAR-10', () => {
    const partial = tempDir('cifar-partial');
    writeCifar(partial, 1);
    rmSync(join(partial, 'test_batch.bin'));
    const r = loadCifar10({ dataDir: partial });
    if (E.isRight(r)) throw new Error('expected missing data');
    expect(r.left).toBeInstanceOf(MissingDataError);
    expect(r.left instanceof MissingDataError && r.left.tried).toEqual([
      join(partial, 'test_batch.bin'),
      join(partial, 'cifar-10-batches-bin', 'test_batch.bin'),
      join(partial, 'cifar10', 'test_batch.bin'),
    ]);
    expect(r.left.message).toContain('cifar-10-binary.tar.gz');
  });
});
