import { join, resolve } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { DecodeError } from '../codec/decode.js';
import { slice, type Dataset, type Splits } from './dataset.js';
import { findAll, readBytes, type MissingDataError } from './files.js';

/** One record of the binary version: a label byte, then 1024 red, 1024 green, 1024 blue bytes (rows of 32). */
export const CIFAR10_RECORD_BYTES = 3073;
const SIDE = 32;
const PLANE = SIDE * SIDE;
export const CIFAR10_SHAPE = [SIDE, SIDE, 3] as const;
export const CIFAR10_TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'] as const;
export const CIFAR10_TEST_FILE = 'test_batch.bin';

const HOW_TO_GET =
  'CIFAR-10 is not available offline. Download "CIFAR-10 binary version (suitable for C programs)" (cifar-10-binary.tar.gz) ' +
  'from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it, and pass the directory cifar-10-batches-bin (or its parent) as the data directory.';

export interface Cifar10Options {
  /** Directory with the .bin batches, or its parent holding cifar-10-batches-bin/; default ./data. */
  readonly dataDir?: string;
}

/**
 * Decodes binary batches into one dataset: pixels / 255, stored HWC ([32, 32, 3], channels
 * last, as tfjs convolutions expect) from the file's CHW planes.
 */
export function decodeCifar10(files: readonly { file: string; bytes: Uint8Array }[], name: string): E.Either<DecodeError, Dataset> {
  let count = 0;
  for (const { file, bytes } of files) {
    const whole = Math.floor(bytes.length / CIFAR10_RECORD_BYTES);
    if (bytes.length === 0) return E.left(new DecodeError(file, ['byte 0: the file is empty']));
    if (bytes.length % CIFAR10_RECORD_BYTES !== 0) {
      const cut = whole * CIFAR10_RECORD_BYTES;
      return E.left(
        new DecodeError(file, [
          `byte ${cut}: record ${whole} is truncated (${bytes.length - cut} of ${CIFAR10_RECORD_BYTES} bytes); the file size ${bytes.length} is not a multiple of ${CIFAR10_RECORD_BYTES}`,
        ]),
      );
    }
    count += whole;
  }
  const x = new Float32Array(count * PLANE * 3);
  const y = new Int32Array(count);
  let i = 0;
  for (const { file, bytes } of files) {
    for (let at = 0; at < bytes.length; at += CIFAR10_RECORD_BYTES, i++) {
      const label = bytes[at]!;
      if (label > 9) return E.left(new DecodeError(file, [`byte ${at}: label ${label} of record ${at / CIFAR10_RECORD_BYTES} is not in [0, 10)`]));
      y[i] = label;
      const out = i * PLANE * 3;
      for (let p = 0; p < PLANE; p++) {
        for (let c = 0; c < 3; c++) x[out + 3 * p + c] = bytes[at + 1 + c * PLANE + p]! / 255;
      }
    }
  }
  return E.right({ name, x, y, shape: CIFAR10_SHAPE, count, classes: 10 });
}

const readAll = (files: readonly string[]) =>
  // A batch file is 10 000 records of 3 073 bytes (30.7 MB); 64 MiB bounds a wrong or endless file.
  E.traverseArray((file: string) =>
    pipe(
      readBytes(file, 64 * 1024 * 1024, 'a CIFAR-10 batch'),
      E.map((bytes) => ({ file, bytes })),
    ),
  )(files);

/**
 * CIFAR-10 splits: data_batch_1..5 in order, the last 10% of them (5 000 images of
 * data_batch_5) held out as `validation`, the rest `train`; test_batch is `test`.
 */
export function loadCifar10({ dataDir = 'data' }: Cifar10Options = {}): E.Either<DecodeError | MissingDataError, Splits> {
  const root = resolve(dataDir);
  const dirs = [root, join(root, 'cifar-10-batches-bin'), join(root, 'cifar10')];
  return pipe(
    findAll('cifar10', dirs, [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE], HOW_TO_GET),
    E.chainW((paths) =>
      pipe(
        E.Do,
        E.apS(
          'full',
          pipe(
            readAll(paths.slice(0, 5)),
            E.chain((f) => decodeCifar10(f, 'cifar10/train+validation')),
          ),
        ),
        E.apS(
          'test',
          pipe(
            readAll(paths.slice(5)),
            E.chain((f) => decodeCifar10(f, 'cifar10/test')),
          ),
        ),
      ),
    ),
    E.map(({ full, test }) => {
      const trainCount = full.count - Math.floor(full.count / 10);
      return { train: slice(full, 0, trainCount, 'cifar10/train'), validation: slice(full, trainCount, full.count, 'cifar10/validation'), test };
    }),
  );
}
