import type { TensorBatch } from '../optimizee/objective.js';
import { disposeTensorBatch } from '../optimizee/tensorBatch.js';

/** One epoch's batches in training order; `null` when the epoch is over. The queue owns what it gets. */
export interface EpochReader {
  next(): Promise<TensorBatch | null>;
}

/** Opens epoch `e` (0, 1, …; later than the last training epoch only to look ahead). */
export type OpenEpoch = (epoch: number) => EpochReader | Promise<EpochReader>;

export interface QueuedBatch {
  readonly batch: TensorBatch;
  readonly epoch: number;
}

/**
 * The training batches of all epochs, in order, read ahead as far as a round asks: a loss
 * guard's round looks at k + m batches and consumes the first k, so its m comparison batches
 * are the next round's first training batches (unseen by every candidate when compared).
 */
export class BatchQueue {
  private items: QueuedBatch[] = [];
  private reading = 0;
  private reader: EpochReader | null = null;
  private readInEpoch = 0;
  /** An epoch yielded no batch at all: the data has run out. */
  private exhausted = false;

  constructor(private readonly open: OpenEpoch) {}

  /** Reads one batch of the epoch being read; false when that epoch is over (reading moves on). */
  private async readWithinEpoch(): Promise<boolean> {
    if (this.exhausted) return false;
    this.reader ??= await this.open(this.reading);
    const batch = await this.reader.next();
    if (batch === null) {
      this.exhausted = this.readInEpoch === 0;
      this.reader = null;
      this.reading += 1;
      this.readInEpoch = 0;
      return false;
    }
    this.items.push({ batch, epoch: this.reading });
    this.readInEpoch += 1;
    return true;
  }

  /** The first n queued batches, reading across epochs as needed; null when the data ran out first. */
  async peek(n: number): Promise<readonly TensorBatch[] | null> {
    while (this.items.length < n && !this.exhausted) await this.readWithinEpoch();
    return this.items.length < n ? null : this.items.slice(0, n).map((q) => q.batch);
  }

  /** Removes the first n batches (their tensors pass to the caller). */
  take(n: number): QueuedBatch[] {
    return this.items.splice(0, n);
  }

  /** Whether epoch `e` still has batches to consume (reads one ahead to find out). */
  async epochHasMore(e: number): Promise<boolean> {
    if (this.items.some((q) => q.epoch === e)) return true;
    if (this.reading !== e) return false;
    return this.readWithinEpoch();
  }

  dispose(): void {
    for (const q of this.take(this.items.length)) disposeTensorBatch(q.batch);
  }
}
