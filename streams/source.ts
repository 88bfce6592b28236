import { Observable } from 'rxjs';
import type { Batch } from '../src/data/batch.js';
import { BatchSampler, DEFAULT_BATCH_SIZE } from '../src/data/sampler.js';
import type { Dataset } from '../src/data/dataset.js';

/** How long a synchronous source emits before it lets timers, signals and I/O run. */
const SLICE_MS = 25;
/** How often a paused source checks whether it may go on. */
const PAUSE_POLL_MS = 50;

/**
 * Runs `fn` once pending events have been handled; returns a cancel function. Node has
 * setImmediate; browsers and web workers get a MessageChannel message (nested timeouts are
 * clamped to 4 ms there).
 */
function soon(fn: () => void): () => void {
  if (typeof setImmediate === 'function') {
    const id = setImmediate(fn);
    return () => clearImmediate(id);
  }
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
  return () => channel.port1.close();
}

export interface PulledOptions {
  /** While this returns true nothing is pulled (a paused run keeps its place in the data). */
  readonly paused?: () => boolean;
}

/**
 * An endless stream from a pull function, emitted in time slices so that a long run stays
 * responsive (progress bars, SIGINT, a web page). Stops pulling as soon as the subscriber leaves.
 */
export function pulled<T>(pull: () => T, { paused }: PulledOptions = {}): Observable<T> {
  return new Observable<T>((subscriber) => {
    let cancel: (() => void) | undefined;
    const slice = () => {
      if (paused?.()) {
        const timer = setTimeout(slice, PAUSE_POLL_MS);
        cancel = () => clearTimeout(timer);
        return;
      }
      const until = performance.now() + SLICE_MS;
      try {
        while (!subscriber.closed && performance.now() < until && !paused?.()) subscriber.next(pull());
      } catch (err) {
        subscriber.error(err);
        return;
      }
      if (!subscriber.closed) cancel = soon(slice);
    };
    slice();
    return () => cancel?.();
  });
}

export interface BatchStreamOptions extends PulledOptions {
  readonly batchSize?: number;
  readonly seed: number;
}

/** Seeded, shuffled, epoch-cycling batches of an in-memory dataset; same seed, same batches. */
export function batches$(
  dataset: Dataset,
  { batchSize = DEFAULT_BATCH_SIZE, seed, paused }: BatchStreamOptions,
  sampler = new BatchSampler(dataset, batchSize, seed),
): Observable<Batch> {
  return pulled(() => sampler.next(), paused ? { paused } : {});
}
