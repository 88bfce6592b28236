import * as tf from '@tensorflow/tfjs';
import type { RoundState } from '../guard/round.js';
import { compiledModelObjective } from '../optimizee/compiledModel.js';
import { Rng } from '../tensor/rng.js';
import type { StateRecord } from '../tensor/state.js';
import { asRoundOptimizer, callbackMetrics, positiveInt, rows, validationLogs, type CommonArgs } from './args.js';
import { BatchQueue, type OpenEpoch } from './batchQueue.js';
import { runRounds, type GuardedHistory } from './loop.js';

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
        validation === null ? null : async () => validationLogs(model.evaluate(validation[0], validation[1], { batchSize, verbose: 0 }), objective.metricNames),
    });
  } finally {
    tf.dispose(owned);
  }
}
