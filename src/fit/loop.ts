import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { DivergenceError, type RoundOptimizer, type RoundReport, type RoundState } from '../guard/round.js';
import { disposeTensorBatch } from '../optimizee/tensorBatch.js';
import type { CompiledObjective } from '../optimizee/compiledModel.js';
import { readParams, writeParams } from '../optimizee/layersModel.js';
import type { TensorBatch } from '../optimizee/objective.js';
import { disposeAll, disposeReplaced } from '../tensor/state.js';
import type { BatchQueue } from './batchQueue.js';
import { callbackList, epochLine, EpochMeans, type FitCallbacks, type Logs } from './callbacks.js';

/** One round as `fitGuarded` records it: where it ran and what the optimizer reported. */
export type RoundDecision = { readonly epoch: number; readonly round: number } & RoundReport;

/** `tf.History` with the guard's decisions: one entry per round, in order. */
export interface GuardedHistory extends tf.History {
  readonly decisions: readonly RoundDecision[];
}

export interface LoopOptions {
  readonly epochs: number;
  readonly initialEpoch: number;
  readonly verbose: number;
  readonly callbacks: FitCallbacks;
  /** fit's `params` for the callbacks (samples, steps, batchSize, …). */
  readonly params: Record<string, number | boolean | string | string[]>;
  /** Validation logs (`val_loss`, …) with the model holding the current point, or none. */
  readonly validate: (() => Promise<Logs>) | null;
}

/** Guard reports as numeric log fields, in fit's snake_case. */
function guardLogs(report: RoundReport): Logs {
  const out: Logs = {};
  if (report.useL2O !== undefined) out['use_l2o'] = report.useL2O;
  if (report.l2oLoss !== undefined) out['l2o_loss'] = report.l2oLoss;
  if (report.fallbackLoss !== undefined) out['fallback_loss'] = report.fallbackLoss;
  if (report.anchorLoss !== undefined) out['anchor_loss'] = report.anchorLoss;
  return out;
}

function concatBatches(batches: readonly TensorBatch[]): TensorBatch {
  return { x: tf.concat(batches.map((b) => b.x)), y: tf.concat(batches.map((b) => b.y)), size: batches.reduce((n, b) => n + b.size, 0) };
}

const training = new WeakSet<tf.LayersModel>();

/**
 * fit's epoch and callback protocol around rounds of an lgl2o optimizer. A round takes the
 * batches its optimizer asks for from the queue and consumes its training batches; a
 * callback "batch" is a round. An epoch ends after the round that consumed its last batch.
 */
export async function runRounds<S extends RoundState>(
  model: tf.LayersModel,
  objective: CompiledObjective,
  optimizer: RoundOptimizer<S>,
  queue: BatchQueue,
  options: LoopOptions,
): Promise<GuardedHistory> {
  if (training.has(model)) throw new Error(`${model.name}: another fitGuarded call on this model is running`);
  const history = new tf.History();
  const decisions: RoundDecision[] = [];
  const callbacks = callbackList(options.callbacks, history);
  callbacks.setParams({ ...options.params, epochs: options.epochs, initialEpoch: options.initialEpoch, verbose: options.verbose });
  callbacks.setModel(model);
  model.history = history;
  model.stopTraining = false;
  const { epochs } = options;
  const { metricNames } = objective;
  const x0 = readParams(model);
  let state: S = optimizer.init(x0);
  x0.dispose();
  training.add(model);
  try {
    await callbacks.onTrainBegin();
    let epoch = options.initialEpoch;
    let roundInEpoch = 0;
    let round = 0;
    let epochStart = performance.now();
    const means = new EpochMeans();

    const endEpoch = async (): Promise<void> => {
      writeParams(model, state.x);
      const logs: Logs = { ...means.means(), ...(options.validate ? await options.validate() : {}) };
      if ('use_l2o' in logs) {
        logs['learned_share'] = logs['use_l2o']!;
        delete logs['use_l2o'];
      }
      await callbacks.onEpochEnd(epoch, logs);
      if (options.verbose > 0) console.log(epochLine(epoch, epochs, performance.now() - epochStart, logs));
      epoch += 1;
      roundInEpoch = 0;
      means.reset();
      epochStart = performance.now();
    };

    if (epoch < epochs) await callbacks.onEpochBegin(epoch);
    while (epoch < epochs) {
      const needed = optimizer.batchesNeeded(state);
      const steps = needed - (optimizer.comparisonBatches?.(state) ?? 0);
      const batches = await queue.peek(needed);
      if (batches === null) {
        console.warn(`${model.name}: the training data ran out in epoch ${epoch + 1} of ${epochs}; training stops here`);
        break;
      }
      const size = batches.slice(0, steps).reduce((n, b) => n + b.size, 0);
      await callbacks.onBatchBegin(roundInEpoch, { batch: roundInEpoch, size });
      // Metrics where the loss is measured: before the step on its batch, or at the chosen point on the comparison batches.
      const metricsBefore = metricNames.length > 0 && steps === needed ? objective.metrics(state.x, batches[0]!) : null;
      const result = optimizer.round(objective, state, batches);
      if (E.isLeft(result)) throw new DivergenceError(result.left);
      const [next, report] = result.right;
      disposeReplaced(state, next);
      state = next;
      let metricValues = metricsBefore;
      if (metricNames.length > 0 && metricValues === null) {
        const comparison = concatBatches(batches.slice(steps));
        metricValues = objective.metrics(state.x, comparison);
        disposeTensorBatch(comparison);
      }
      for (const q of queue.take(steps)) disposeTensorBatch(q.batch);

      const averaged: Logs = { loss: report.loss };
      metricNames.forEach((name, i) => (averaged[name] = metricValues![i]!));
      const extra = guardLogs(report);
      if ('use_l2o' in extra) averaged['use_l2o'] = extra['use_l2o']!;
      means.add(averaged, size);
      decisions.push({ epoch, round, ...report });
      writeParams(model, state.x); // rounds use the variables as scratch: callbacks see the chosen point
      await callbacks.onBatchEnd(roundInEpoch, { batch: roundInEpoch, size, ...averaged, ...extra });
      roundInEpoch += 1;
      round += 1;

      if (model.stopTraining) {
        await endEpoch();
        break;
      }
      while (epoch < epochs && !(await queue.epochHasMore(epoch - options.initialEpoch))) {
        await endEpoch();
        if (model.stopTraining) break;
        if (epoch < epochs) await callbacks.onEpochBegin(epoch);
      }
      if (model.stopTraining) break;
    }
    writeParams(model, state.x);
    await callbacks.onTrainEnd();
    await history.syncData();
    return Object.assign(history, { decisions });
  } finally {
    writeParams(model, state.x);
    disposeAll(state);
    queue.dispose();
    training.delete(model);
  }
}
