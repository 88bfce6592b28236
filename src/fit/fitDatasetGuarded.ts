import * as tf from '@tensorflow/tfjs';
import type { RoundState } from '../guard/round.js';
import { compiledModelObjective } from '../optimizee/compiledModel.js';
import type { TensorBatch } from '../optimizee/objective.js';
import type { StateRecord } from '../tensor/state.js';
import { asRoundOptimizer, callbackMetrics, positiveInt, rows, validationLogs, type CommonArgs } from './args.js';
import { BatchQueue, type OpenEpoch } from './batchQueue.js';
import type { Logs } from './callbacks.js';
import { runRounds, type GuardedHistory } from './loop.js';

/** What a training dataset yields: `{ xs, ys }` or `[xs, ys]`. */
export type DatasetElement = tf.TensorContainer;

/** `model.fitDataset`'s arguments that apply, plus the lgl2o optimizer. */
export interface FitDatasetGuardedArgs<S extends RoundState, P extends StateRecord> extends CommonArgs<S, P> {
  readonly batchesPerEpoch?: number;
  readonly validationData?: tf.data.Dataset<DatasetElement> | readonly [tf.Tensor, tf.Tensor];
  readonly validationBatches?: number;
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
