import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { loadCifar10 } from './cifar10.js';
import type { Splits } from './dataset.js';
import { leastSquaresData } from './leastSquares.js';
import { loadFashionMnist, loadMnist } from './mnist.js';
import { generatedSplits } from './synthetic.js';
import { loadTinyImagenet } from './tinyImagenet.js';

export interface LoadOptions {
  /** Where the file-based datasets live (each loader also looks in a named subfolder). */
  readonly dataDir?: string;
  /** Seed of generated data and of Tiny-ImageNet's class subset. */
  readonly seed: number;
  /** Noise of the generated datasets (circles, spirals, quadratic); each has its own default. */
  readonly noise?: number;
}

/** Splits plus what a model needs to know: per-example shape and class count (absent for regression). */
export type LoadedDataset = Splits & { readonly shape: readonly number[]; readonly classes?: number };

/** Dimension, rows and target noise of the least-squares task. */
export const QUADRATIC_DEFAULTS = { dim: 10, count: 10_000, noise: 0.1 } as const;

const LOADERS = {
  mnist: ({ dataDir }: LoadOptions) => loadMnist({ dataDir }),
  'fashion-mnist': ({ dataDir }: LoadOptions) => loadFashionMnist({ dataDir }),
  cifar10: ({ dataDir }: LoadOptions) => loadCifar10({ dataDir }),
  tinyimagenet50: ({ dataDir, seed }: LoadOptions) => loadTinyImagenet({ dataDir, seed, classes: 50 }),
  circles: ({ seed, noise }: LoadOptions) => E.right(generatedSplits('circles', seed, noise)),
  spirals: ({ seed, noise }: LoadOptions) => E.right(generatedSplits('spirals', seed, noise)),
  quadratic: ({ seed, noise = QUADRATIC_DEFAULTS.noise }: LoadOptions) => E.right(leastSquaresData({ ...QUADRATIC_DEFAULTS, noise }, seed)),
} satisfies Record<string, (opts: LoadOptions) => E.Either<Error, Splits>>;

export type DatasetName = keyof typeof LOADERS;
export const DATASET_NAMES = Object.keys(LOADERS) as DatasetName[];

const isDatasetName = (name: string): name is DatasetName => Object.hasOwn(LOADERS, name);

/** Loads a dataset by name; unknown names and missing or corrupt files are errors, not throws. */
export function loadDataset(name: string, opts: LoadOptions): E.Either<Error, LoadedDataset> {
  if (!isDatasetName(name)) return E.left(new Error(`dataset ${JSON.stringify(name)}: unknown (known: ${DATASET_NAMES.join(', ')})`));
  const loaded: E.Either<Error, Splits> = LOADERS[name](opts);
  return pipe(
    loaded,
    E.map((splits) => ({ ...splits, shape: splits.train.shape, ...(splits.train.classes !== undefined ? { classes: splits.train.classes } : {}) })),
  );
}
