import type { Batch } from './batch.js';
import { Rng, type RngState } from '../tensor/rng.js';
import { featureSize, gatherFeatures, gatherLabels, type Dataset } from './dataset.js';

/** Offset between a run's seed (its initial parameters) and the seed of its batch order. */
export const BATCH_SEED_OFFSET = 1_000_003;
/** The comparison batches' sampler is seeded with the run seed + this (its own stream, disjoint from the training batches' seed). */
export const COMPARISON_SEED_OFFSET = 2_000_029;

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
/** Examples per mini-batch unless a config or flag says otherwise. */
export const DEFAULT_BATCH_SIZE = 128;

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

  next(): SampledBatch {
    if (this.position + this.batchSize > this.dataset.count) {
      this.epochRng = this.rng.state();
      this.permutation = this.rng.permutation(this.dataset.count);
      this.epoch += 1;
      this.position = 0;
    }
    const batch = new SampledBatch(this.dataset, this.permutation.slice(this.position, this.position + this.batchSize));
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

/**
 * A batch of a dataset's examples whose features are copied out only when first read:
 * toTensorBatch copies them straight into the tensor's memory instead (one copy of ~400 KB
 * per MNIST batch, no JavaScript buffer to allocate and collect). The dataset must not change
 * in between (datasets are not mutated once loaded).
 */
export class SampledBatch implements Batch {
  readonly y: Int32Array | Float32Array;
  readonly shape: readonly number[];
  readonly size: number;
  private features: Float32Array | undefined;

  constructor(
    private readonly dataset: Dataset,
    private readonly indices: Int32Array,
  ) {
    this.y = gatherLabels(dataset, indices);
    this.shape = dataset.shape;
    this.size = indices.length;
  }

  get x(): Float32Array {
    if (this.features === undefined) {
      this.features = new Float32Array(this.size * featureSize(this.shape));
      gatherFeatures(this.dataset, this.indices, this.features, 0);
    }
    return this.features;
  }

  /** Copies the features into `out` from `offset` on, without keeping a copy here. */
  copyFeaturesTo(out: Float32Array, offset: number): void {
    if (this.features !== undefined) out.set(this.features, offset);
    else gatherFeatures(this.dataset, this.indices, out, offset);
  }
}
