import { Observable, type OperatorFunction, type Subscription } from 'rxjs';
import type { Batch } from '../src/data/batch.js';
import { Rng } from '../src/tensor/rng.js';
import { pulled, type PulledOptions } from './source.js';

/** One labelled example added live: a point clicked on a page, a reading from a sensor. */
export interface LiveExample {
  readonly x: readonly number[];
  readonly y: number;
}

/** The live examples received so far, and seeded draws from them (with replacement). */
class ExamplePool {
  private x = new Float32Array(64);
  private y = new Int32Array(16);
  count = 0;

  constructor(readonly features: number) {}

  add({ x, y }: LiveExample): void {
    if (x.length !== this.features || !x.every(Number.isFinite)) {
      throw new RangeError(`live example: expected ${this.features} finite features, got [${x.join(', ')}]`);
    }
    if (!Number.isInteger(y) || y < 0) throw new RangeError(`live example: the label must be an integer ≥ 0, got ${y}`);
    if (this.count === this.y.length) {
      const grown = { x: new Float32Array(2 * this.x.length), y: new Int32Array(2 * this.y.length) };
      grown.x.set(this.x);
      grown.y.set(this.y);
      ({ x: this.x, y: this.y } = grown);
    }
    this.x.set(x, this.count * this.features);
    this.y[this.count] = y;
    this.count += 1;
  }

  /** `n` examples drawn uniformly with replacement, after the rows of `base` (if any). */
  draw(rng: Rng, n: number, base?: Batch): Batch {
    const f = this.features;
    const offset = base?.size ?? 0;
    const x = new Float32Array((offset + n) * f);
    const y = new Int32Array(offset + n);
    if (base) {
      x.set(base.x);
      y.set(base.y);
    }
    for (let i = 0; i < n; i++) {
      const j = rng.int(this.count);
      x.set(this.x.subarray(j * f, (j + 1) * f), (offset + i) * f);
      y[offset + i] = this.y[j]!;
    }
    return { x, y, shape: [f], size: offset + n };
  }
}

export interface MixOptions {
  readonly features: number;
  /** Live examples appended to each batch once there are any. */
  readonly perBatch: number;
  readonly seed: number;
  /** Called with the number of live examples in each batch passed on. */
  readonly onMixed?: (count: number) => void;
}

const checkCount = (value: number, name: string) => {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be an integer ≥ 1, got ${value}`);
};

/**
 * Mixes live examples into a stream of batches: every batch after the first live example
 * gets `perBatch` more rows, drawn (seeded, with replacement) from all live examples so far.
 * Batches before it pass unchanged, so a run is the same as without the live input until
 * the input speaks. Integer class labels only (the batches' `y` becomes an Int32Array).
 */
export function mixIn(examples$: Observable<LiveExample>, { features, perBatch, seed, onMixed }: MixOptions): OperatorFunction<Batch, Batch> {
  checkCount(features, 'mixIn: features');
  checkCount(perBatch, 'mixIn: perBatch');
  return (source) =>
    new Observable<Batch>((subscriber) => {
      const pool = new ExamplePool(features);
      const rng = Rng.seeded(seed);
      const live = examples$.subscribe({ next: (e) => addOrFail(pool, e, subscriber), error: (err) => subscriber.error(err) });
      const batches = source.subscribe({
        next: (batch) => {
          if (pool.count === 0) return subscriber.next(batch);
          if (batch.shape.length !== 1 || batch.shape[0] !== features) {
            return subscriber.error(new RangeError(`mixIn: batches of shape [${batch.shape.join(', ')}] cannot take live examples of ${features} features`));
          }
          subscriber.next(pool.draw(rng, perBatch, batch));
          onMixed?.(perBatch);
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        live.unsubscribe();
        batches.unsubscribe();
      };
    });
}

export interface DrawnOptions extends PulledOptions {
  readonly features: number;
  readonly batchSize: number;
  readonly seed: number;
}

/**
 * An endless stream of batches drawn (seeded, with replacement) from the live examples
 * received so far: training data that a person draws while the model trains. Emits nothing
 * before the first example.
 */
export function drawnBatches$(examples$: Observable<LiveExample>, { features, batchSize, seed, paused }: DrawnOptions): Observable<Batch> {
  checkCount(features, 'drawnBatches$: features');
  checkCount(batchSize, 'drawnBatches$: batchSize');
  return new Observable<Batch>((subscriber) => {
    const pool = new ExamplePool(features);
    const rng = Rng.seeded(seed);
    let draws: Subscription | undefined;
    const live = examples$.subscribe({
      next: (e) => {
        addOrFail(pool, e, subscriber);
        if (draws === undefined && pool.count > 0) draws = pulled(() => pool.draw(rng, batchSize), paused ? { paused } : {}).subscribe(subscriber);
      },
      error: (err) => subscriber.error(err),
    });
    return () => {
      live.unsubscribe();
      draws?.unsubscribe();
    };
  });
}

function addOrFail(pool: ExamplePool, e: LiveExample, subscriber: { error(err: unknown): void }): void {
  try {
    pool.add(e);
  } catch (err) {
    subscriber.error(err);
  }
}
