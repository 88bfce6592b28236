import type * as tf from '@tensorflow/tfjs';
import { gather, type Dataset } from '../data/dataset.js';
import { evaluate } from '../optimizee/evaluate.js';
import type { Batch } from '../data/batch.js';
import type { Objective } from '../optimizee/objective.js';
import type { StepEvent } from './events.js';

/** What a run reports at an evaluation on its fixed training subset. */
export interface TrainEvaluation {
  readonly trainLoss: number;
  readonly trainAccuracy?: number;
}

/** `size` rows of `ds` spread evenly over it (every ⌊count/size⌋-th row), the same for every optimizer. */
export function trainSubset(ds: Dataset, size: number): Batch {
  const n = Math.min(size, ds.count);
  const stride = Math.floor(ds.count / n);
  return gather(
    ds,
    Array.from({ length: n }, (_, i) => i * stride),
  );
}

/** Mean loss (and accuracy, when the objective has one) of `x` on a training subset. */
export function evaluateOn(objective: Objective, x: tf.Tensor1D, batch: Batch): TrainEvaluation {
  const { loss, accuracy } = evaluate(objective, x, batch);
  return accuracy === undefined ? { trainLoss: loss } : { trainLoss: loss, trainAccuracy: accuracy };
}

/**
 * Evaluation of the training loss on a fixed subset at given steps: `onRound` evaluates the
 * state at the first round whose step reaches the next scheduled step (skipping the scheduled
 * steps the round jumped over), and `annotate` adds that evaluation to the round's event.
 * A fixed subset makes the curves of plain optimizers (pre-step batch losses) and guards
 * (comparison-batch losses) comparable.
 */
export function trainEvaluator(objective: Objective, batch: Batch, steps: readonly number[], after = 0) {
  // `after`: a resumed run's starting step; the scheduled steps it already passed are done.
  const schedule = [...new Set(steps)].filter((s) => s > after).sort((a, b) => a - b);
  let next = 0;
  let pending: TrainEvaluation | undefined;
  return {
    onRound(state: { readonly x: tf.Tensor1D; readonly step: number }): void {
      if (next >= schedule.length || state.step < schedule[next]!) return;
      while (next < schedule.length && schedule[next]! <= state.step) next += 1;
      pending = evaluateOn(objective, state.x, batch);
    },
    annotate(event: StepEvent): StepEvent {
      if (pending === undefined) return event;
      const e = { ...event, ...pending };
      pending = undefined;
      return e;
    },
  };
}
