import * as tf from '@tensorflow/tfjs';
import { plain } from '../guard/plain.js';
import type { RoundOptimizer, RoundState } from '../guard/round.js';
import { compiledModelObjective } from '../optimizee/compiledModel.js';
import type { TensorBatch } from '../optimizee/objective.js';
import type { Optimizer } from '../optim/optimizer.js';
import { Rng } from '../tensor/rng.js';
import type { StateRecord } from '../tensor/state.js';
import { BatchQueue, type OpenEpoch } from './batchQueue.js';
import type { FitCallbacks, Logs } from './callbacks.js';
import { runRounds, type GuardedHistory } from './loop.js';

/** A guard (`lossGuard(…)`, `safeguard(…)`), any round optimizer, or a plain lgl2o optimizer (`sgd(…)`, `l2o.load(…)`). */
export type GuardedOptimizer<S extends RoundState = RoundState, P extends StateRecord = StateRecord> = RoundOptimizer<S> | Optimizer<P>;

/** What a training dataset yields: `{ xs, ys }` or `[xs, ys]`. */
export type DatasetElement = tf.TensorContainer;

interface CommonArgs<S extends RoundState, P extends StateRecord> {
  readonly optimizer: GuardedOptimizer<S, P>;
  readonly epochs?: number;
  readonly initialEpoch?: number;
  /** 1 (default): one line per epoch on the console; 0: silent. */
  readonly verbose?: number;
  readonly callbacks?: FitCallbacks;
}

/** `model.fit`'s arguments that apply, plus the lgl2o optimizer and the shuffle's seed. */
export interface FitGuardedArgs<S extends RoundState, P extends StateRecord> extends CommonArgs<S, P> {
  readonly batchSize?: number;
  /** Shuffle the training examples every epoch (default true), with a seeded permutation. */
  readonly shuffle?: boolean;
  /** Seed of the shuffle (default 0): the same seed gives the same batch order. */
  readonly seed?: number;
  readonly validationData?: readonly [tf.Tensor, tf.Tensor];
  readonly validationSplit?: number;
}

/** `model.fitDataset`'s arguments that apply, plus the lgl2o optimizer. */
export interface FitDatasetGuardedArgs<S extends RoundState, P extends StateRecord> extends CommonArgs<S, P> {
  readonly batchesPerEpoch?: number;
  readonly validationData?: tf.data.Dataset<DatasetElement> | readonly [tf.Tensor, tf.Tensor];
  readonly validationBatches?: number;
}

function asRoundOptimizer<S extends RoundState, P extends StateRecord>(o: unknown, where: string): RoundOptimizer<S> | RoundOptimizer<RoundState> {
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

function positiveInt(value: number | undefined, fallback: number, name: string, where: string): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${where}: args.${name} must be an integer ≥ 1, got ${value}`);
  return v;
}

/** Examples in rows: a rank-1 input becomes a column, as fit does. */
const rows = (t: tf.Tensor): tf.Tensor => (t.rank === 1 ? t.reshape([t.shape[0]!, 1]) : t.clone());

/** Validation logs `val_loss`, `val_acc`, … from tfjs's own evaluate, with the model holding the current point. */
function validationLogs(result: tf.Scalar | tf.Scalar[], metricNames: readonly string[]): Logs {
  const list = Array.isArray(result) ? result : [result];
  const logs: Logs = {};
  ['loss', ...metricNames].forEach((name, i) => (logs[`val_${name}`] = list[i]!.dataSync()[0]!));
  tf.dispose(list);
  return logs;
}

const callbackMetrics = (names: readonly string[], validation: boolean) => {
  const all = ['loss', ...names];
  return validation ? [...all, ...all.map((n) => `val_${n}`)] : all;
};

/**
 * Trains a compiled `tf.LayersModel` like `model.fit(x, y, args)`, with an lgl2o optimizer:
 * a guard such as `lossGuard(…)`, or a plain one such as `sgd(…)`. Epochs run over the
 * batches of the (seeded) shuffled training examples; a round of the guard consumes k of them
 * and compares its candidates on the next m (the next round's first training batches). A
 * callback "batch" is a round. Returns fit's `tf.History` (loss, metrics, val_*; for guards
 * also `learned_share` per epoch) with the guard's `decisions`, one per round. The model
 * ends holding the trained weights. See docs/api.md.
 */
export async function fitGuarded<S extends RoundState, P extends StateRecord>(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  args: FitGuardedArgs<S, P>,
): Promise<GuardedHistory> {
  const where = 'fitGuarded';
  if (!(x instanceof tf.Tensor) || !(y instanceof tf.Tensor)) throw new TypeError(`${where}: x and y must be tensors (models with one input and one output)`);
  const optimizer = asRoundOptimizer<S, P>(args.optimizer, where);
  const objective = compiledModelObjective(model);
  const count = x.shape[0]!;
  if (y.shape[0] !== count) throw new RangeError(`${where}: x has ${count} examples, y has ${y.shape[0]}`);
  const batchSize = positiveInt(args.batchSize, 32, 'batchSize', where);
  const epochs = positiveInt(args.epochs, 1, 'epochs', where);
  const split = args.validationSplit;
  if (split !== undefined && !(split >= 0 && split < 1)) throw new RangeError(`${where}: args.validationSplit must be in [0, 1), got ${split}`);
  if (args.validationData !== undefined && (args.validationData.length !== 2 || !args.validationData.every((t) => t instanceof tf.Tensor))) {
    throw new TypeError(`${where}: args.validationData must be [xVal, yVal] (two tensors)`);
  }

  // As fit: a validation split takes the last examples, before any shuffling.
  const splitAt = args.validationData === undefined && split !== undefined && split > 0 ? Math.floor(count * (1 - split)) : count;
  if (splitAt < 1) throw new RangeError(`${where}: validationSplit ${split} leaves no training examples of ${count}`);
  const xTrain = tf.tidy(() => rows(x).slice(0, splitAt));
  const yTrain = tf.tidy(() => y.slice(0, splitAt));
  const owned: tf.Tensor[] = [xTrain, yTrain];
  let validation: readonly [tf.Tensor, tf.Tensor] | null = args.validationData ?? null;
  if (splitAt < count) {
    validation = [tf.tidy(() => rows(x).slice(splitAt)), y.slice(splitAt)];
    owned.push(...validation);
  }

  const rng = Rng.seeded(args.seed ?? 0);
  const shuffle = args.shuffle ?? true;
  const open: OpenEpoch = () => {
    const order = shuffle ? rng.permutation(splitAt) : Int32Array.from({ length: splitAt }, (_, i) => i);
    let start = 0;
    return {
      next: async () => {
        if (start >= splitAt) return null;
        const ids = order.slice(start, start + batchSize);
        start += batchSize;
        const [bx, by] = tf.tidy(() => {
          const at = tf.tensor1d(ids, 'int32');
          return [tf.gather(xTrain, at), tf.gather(yTrain, at).reshape<tf.Tensor1D>([-1])];
        });
        return { x: bx, y: by, size: ids.length };
      },
    };
  };
  try {
    return await runRounds(model, objective, optimizer, new BatchQueue(open), {
      epochs,
      initialEpoch: args.initialEpoch ?? 0,
      verbose: args.verbose ?? 1,
      callbacks: args.callbacks,
      params: {
        samples: splitAt,
        steps: Math.ceil(splitAt / batchSize),
        batchSize,
        doValidation: validation !== null,
        metrics: callbackMetrics(objective.metricNames, validation !== null),
      },
      validate:
        validation === null
          ? null
          : async () => validationLogs(model.evaluate(validation[0], validation[1], { batchSize, verbose: 0 }), objective.metricNames),
    });
  } finally {
    tf.dispose(owned);
  }
}

/** A dataset element as a batch: `{ xs, ys }` or `[xs, ys]`, targets flattened (the batch owns the tensors). */
function toBatch(value: unknown, where: string): TensorBatch {
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  const [xs, ys]: unknown[] = Array.isArray(value) ? value : [record['xs'], record['ys']];
  if (!(xs instanceof tf.Tensor) || !(ys instanceof tf.Tensor)) {
    throw new TypeError(`${where}: dataset elements must be { xs, ys } or [xs, ys] with one tensor each`);
  }
  const size = xs.shape[0]!;
  if (ys.shape[0] !== size) throw new RangeError(`${where}: a batch has ${size} inputs and ${ys.shape[0]} targets`);
  const batch: TensorBatch = { x: rows(xs), y: ys.reshape<tf.Tensor1D>([-1]), size };
  tf.dispose([xs, ys]);
  return batch;
}

/**
 * Trains a compiled `tf.LayersModel` like `model.fitDataset(dataset, args)`, with an lgl2o
 * optimizer. Each epoch iterates the dataset afresh (or takes `batchesPerEpoch` batches from
 * one iterator); a loss guard compares its candidates on the batches that follow its k
 * training batches, reading into the next epoch's iteration when needed. See `fitGuarded`.
 */
export async function fitDatasetGuarded<S extends RoundState, P extends StateRecord>(
  model: tf.LayersModel,
  dataset: tf.data.Dataset<DatasetElement>,
  args: FitDatasetGuardedArgs<S, P>,
): Promise<GuardedHistory> {
  const where = 'fitDatasetGuarded';
  if (typeof (dataset as { iterator?: unknown } | null)?.iterator !== 'function') throw new TypeError(`${where}: expected a tf.data.Dataset`);
  const optimizer = asRoundOptimizer<S, P>(args.optimizer, where);
  const objective = compiledModelObjective(model);
  const epochs = positiveInt(args.epochs, 1, 'epochs', where);
  const perEpoch = args.batchesPerEpoch === undefined ? undefined : positiveInt(args.batchesPerEpoch, 1, 'batchesPerEpoch', where);
  let shared: Awaited<ReturnType<typeof dataset.iterator>> | null = null;
  const open: OpenEpoch = async () => {
    const iterator = perEpoch === undefined ? await dataset.iterator() : (shared ??= await dataset.iterator());
    let read = 0;
    return {
      next: async () => {
        if (perEpoch !== undefined && read >= perEpoch) return null;
        const r = await iterator.next();
        if (r.done) return null;
        read += 1;
        return toBatch(r.value, where);
      },
    };
  };
  const validation = args.validationData;
  const validate = async (): Promise<Logs> => {
    if (validation === undefined) return {};
    if (!(validation instanceof tf.data.Dataset)) return validationLogs(model.evaluate(validation[0], validation[1], { verbose: 0 }), objective.metricNames);
    const dataset = validation as Parameters<tf.LayersModel['evaluateDataset']>[0];
    const batches = args.validationBatches === undefined ? {} : { batches: args.validationBatches };
    return validationLogs(await model.evaluateDataset(dataset, batches), objective.metricNames);
  };
  return runRounds(model, objective, optimizer, new BatchQueue(open), {
    epochs,
    initialEpoch: args.initialEpoch ?? 0,
    verbose: args.verbose ?? 1,
    callbacks: args.callbacks,
    params: {
      ...(perEpoch === undefined ? {} : { steps: perEpoch }),
      doValidation: validation !== undefined,
      metrics: callbackMetrics(objective.metricNames, validation !== undefined),
    },
    validate: validation === undefined ? null : validate,
  });
}
