import { Observable } from 'rxjs';
import type { Batch } from '../src/data/batch.js';
import { BatchSampler, DEFAULT_BATCH_SIZE } from '../src/data/sampler.js';
import type { Dataset } from '../src/data/dataset.js';

/** How long a synchronous source emits before it lets timers, signals and I/O run. */
const SLICE_MS = 25;

/**
 * An endless stream from a pull function, emitted in time slices so that a long run stays
 * responsive (progress bars, SIGINT). Stops pulling as soon as the subscriber leaves.
 */
export function pulled<T>(pull: () => T): Observable<T> {
  return new Observable<T>((subscriber) => {
    let timer: NodeJS.Immediate | undefined;
    const slice = () => {
      const until = performance.now() + SLICE_MS;
      try {
        while (!subscriber.closed && performance.now() < until) subscriber.next(pull());
      } catch (err) {
        subscriber.error(err);
        return;
      }
      if (!subscriber.closed) timer = setImmediate(slice);
    };
    slice();
    return () => {
      if (timer !== undefined) clearImmediate(timer);
    };
  });
}

export interface BatchStreamOptions {
  readonly batchSize?: number;
  readonly seed: number;
}

/** Seeded, shuffled, epoch-cycling batches of an in-memory dataset; same seed, same batches. */
export function batches$(dataset: Dataset, { batchSize = DEFAULT_BATCH_SIZE, seed }: BatchStreamOptions, sampler = new BatchSampler(dataset, batchSize, seed)): Observable<Batch> {
  return pulled(() => sampler.next());
}
