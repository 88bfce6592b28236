import type { Batch } from '../optimizee/objective.js';
import { Rng, type RngState } from '../tensor/rng.js';
import { gather, type Dataset } from './dataset.js';

/** Where a sampler is: enough to resume the exact same sequence of batches. */
export interface SamplerState {
  readonly rng: RngState;
  readonly epoch: number;
  readonly position: number;
  readonly batches: number;
}

/**
 * Seeded, shuffled, epoch-cycling mini-batches without replacement inside an epoch
 * (a new permutation each epoch; a partial last batch of an epoch is skipped).
 */
export class BatchSampler {
  private rng: Rng;
  private permutation: Int32Array;
  private epochRng: RngState;
  epoch: number;
  position: number;
  batches: number;

  constructor(
    readonly dataset: Dataset,
    readonly batchSize: number,
    seed: number,
  ) {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batch size must be an integer ≥ 1, got ${batchSize}`);
    if (dataset.count < batchSize) throw new RangeError(`${dataset.name}: ${dataset.count} examples is fewer than one batch of ${batchSize}`);
    this.rng = Rng.seeded(seed);
    this.epochRng = this.rng.state();
    this.permutation = this.rng.permutation(dataset.count);
    this.epoch = 0;
    this.position = 0;
    this.batches = 0;
  }

  next(): Batch {
    if (this.position + this.batchSize > this.dataset.count) {
      this.epochRng = this.rng.state();
      this.permutation = this.rng.permutation(this.dataset.count);
      this.epoch += 1;
      this.position = 0;
    }
    const batch = gather(this.dataset, this.permutation.subarray(this.position, this.position + this.batchSize));
    this.position += this.batchSize;
    this.batches += 1;
    return batch;
  }

  state(): SamplerState {
    return { rng: this.epochRng, epoch: this.epoch, position: this.position, batches: this.batches };
  }

  /** Continues from a saved state: the permutation of the saved epoch is drawn again. */
  restore(state: SamplerState): void {
    this.rng = new Rng(state.rng);
    this.epochRng = state.rng;
    this.permutation = this.rng.permutation(this.dataset.count);
    this.epoch = state.epoch;
    this.position = state.position;
    this.batches = state.batches;
  }
}
