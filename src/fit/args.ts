import * as tf from '@tensorflow/tfjs';
import { plain } from '../guard/plain.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { StateRecord } from '../tensor/state.js';
import type { FitCallbacks, Logs } from './callbacks.js';

/** A guard (`lossGuard(…)`, `safeguard(…)`), any round optimizer, or a plain lgl2o optimizer (`sgd(…)`, `l2o.load(…)`). */
export type GuardedOptimizer<S extends RoundState = RoundState, P extends StateRecord = StateRecord> = RoundOptimizer<S> | Optimizer<P>;

/** The arguments `fitGuarded` and `fitDatasetGuarded` share. */
export interface CommonArgs<S extends RoundState, P extends StateRecord> {
  readonly optimizer: GuardedOptimizer<S, P>;
  readonly epochs?: number;
  readonly initialEpoch?: number;
  /** 1 (default): one line per epoch on the console; 0: silent. */
  readonly verbose?: number;
  readonly callbacks?: FitCallbacks;
}

/** The optimizer `args.optimizer` names, as a round optimizer (a plain one takes one batch per round). */
export function asRoundOptimizer<S extends RoundState, P extends StateRecord>(o: unknown, where: string): RoundOptimizer<S> | RoundOptimizer<RoundState> {
  const choices = 'an lgl2o optimizer (lossGuard(…), sgd(…), l2o.load(…))';
  // tf.Optimizer's instanceof reads a field of its operand: test objects only.
  if (typeof o === 'object' && o !== null && o instanceof tf.Optimizer) {
    throw new TypeError(`${where}: args.optimizer is a tf.Optimizer: use model.fit with it, or give ${choices}`);
  }
  const has = (key: string) => typeof o === 'object' && o !== null && typeof (o as Record<string, unknown>)[key] === 'function';
  if (has('round') && has('batchesNeeded') && has('init')) return o as RoundOptimizer<S>;
  if (has('step') && has('init')) return plain(o as Optimizer<P>) as unknown as RoundOptimizer<RoundState>;
  throw new TypeError(`${where}: args.optimizer must be ${choices}, got ${o === undefined ? 'nothing' : typeof o}`);
}

export function positiveInt(value: number | undefined, fallback: number, name: string, where: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: args.${name} must be an integer ≥ 1, got ${value}`);
  return v;
}

/** Examples in rows: a rank-1 input becomes a column, as fit does. */
export const rows = (t: tf.Tensor): tf.Tensor => (t.rank === 1 ? t.reshape([t.shape[0]!, 1]) : t.clone());

/** Validation logs `val_loss`, `val_acc`, … from tfjs's own evaluate, with the model holding the current point. */
export function validationLogs(result: tf.Scalar | tf.Scalar[], metricNames: readonly string[]): Logs {
  const list = Array.isArray(result) ? result : [result];
  const logs: Logs = {};
  ['loss', ...metricNames].forEach((name, i) => (logs[`val_${name}`] = list[i]!.dataSync()[0]!));
  tf.dispose(list);
  return logs;
}

export const callbackMetrics = (names: readonly string[], validation: boolean) => {
  const all = ['loss', ...names];
  return validation ? [...all, ...all.map((n) => `val_${n}`)] : all;
};
