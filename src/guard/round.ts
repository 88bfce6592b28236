import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import type { Objective, TensorBatch } from '../optimizee/objective.js';
import type { StateRecord } from '../tensor/state.js';

/** Which candidate a loss guard kept in a round. */
export type Winner = 'learned' | 'fallback' | 'anchor';

/** What one round did: the fields of a `StepEvent` that the optimizer knows. */
export interface RoundReport {
  /** Optimizer steps taken in this round (k for a loss guard, 1 otherwise). */
  readonly steps: number;
  /** The chosen point's mean loss on the comparison batches, or the batch loss. */
  readonly loss: number;
  readonly l2oLoss?: number;
  readonly fallbackLoss?: number;
  readonly anchorLoss?: number;
  readonly useL2O?: 0 | 1;
  readonly winner?: Winner;
  /** Why the decision went as it did when a rule other than the loss comparison decided. */
  readonly reason?: string;
  readonly k?: number;
  readonly m?: number;
  /** GL2O: whether the learned proposal was accepted; the residual and its bound. */
  readonly accepted?: boolean;
  readonly residual?: number;
  readonly mu?: number;
  /** Whether the learned rollout ran this round (probing back-off can skip it). */
  readonly probed?: boolean;
}

export interface Divergence {
  readonly kind: 'diverged';
  /** Optimizer steps completed before the round that diverged. */
  readonly step: number;
  readonly message: string;
}

/** A run that stopped because its optimizer diverged (exit code 3 at the CLI). */
export class DivergenceError extends Error {
  constructor(readonly divergence: Divergence) {
    super(divergence.message);
    this.name = 'DivergenceError';
  }
}

export type RoundResult<S> = E.Either<Divergence, readonly [S, RoundReport]>;

/** The state every round optimizer carries: its current point `x` and its step count. */
export interface RoundState extends StateRecord {
  readonly x: tf.Tensor1D;
  readonly step: number;
}

/**
 * An optimizer at the level of rounds: it asks for a number of batches, consumes them in
 * one pure round and reports what it did. Plain optimizers take one batch per round; the
 * loss guard takes k + m. Guards are values of this type, so they can be swapped in a config.
 */
export interface RoundOptimizer<S extends RoundState = RoundState> {
  readonly name: string;
  init(params: tf.Tensor1D): S;
  batchesNeeded(state: S): number;
  round(objective: Objective, state: S, batches: readonly TensorBatch[]): RoundResult<S>;
  /**
   * How many of the batches a round takes only serve to compare candidates (the last ones;
   * nothing steps on them): m for a loss guard. None when absent. A train operator given a
   * comparison source draws them from it, so that the training batches are the ones a plain
   * run of the same seed trains on.
   */
  comparisonBatches?(state: S): number;
}

/**
 * Mean loss of `params` on each of the batches, read back to numbers. Batches with examples
 * go through one forward pass together; empty ones (deterministic objectives) one by one.
 */
export function batchLosses(objective: Objective, params: tf.Tensor1D, batches: readonly TensorBatch[]): number[] {
  if (batches.length <= 1 || batches.some((b) => b.size === 0)) {
    return batches.map((b) => tf.tidy(() => objective.perExampleLoss(params, b).mean().dataSync()[0]!));
  }
  const perExample = tf.tidy(() => {
    const all: TensorBatch = {
      x: tf.concat(batches.map((b) => b.x)),
      y: tf.concat(batches.map((b) => b.y)),
      size: batches.reduce((n, b) => n + b.size, 0),
    };
    return objective.perExampleLoss(params, all).dataSync();
  });
  let offset = 0;
  return batches.map((b) => {
    let sum = 0;
    for (let i = offset; i < offset + b.size; i++) sum += perExample[i]!;
    offset += b.size;
    return sum / b.size;
  });
}

export const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

export function stdDev(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const mu = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - mu) ** 2, 0) / (xs.length - 1));
}
