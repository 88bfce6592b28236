import type * as tf from '@tensorflow/tfjs';
import { defer, finalize, type OperatorFunction } from 'rxjs';
import type { RoundState } from '../src/guard/round.js';
import { layersModelObjective, readParams, writeParams, type LayersModelOptions } from '../src/optimizee/layersModel.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective } from '../src/optimizee/objective.js';
import type { StepEvent } from '../src/runs/events.js';
import { assertBackendReady } from '../src/tensor/backend.js';
import { train, type TrainOptions } from './train.js';

/** What can be trained: an `Objective` over a flat vector, or a user's `tf.LayersModel`. */
export type Optimizee = Objective | tf.LayersModel;

export interface TrainOptimizeeOptions<S extends RoundState> extends Omit<TrainOptions<S>, 'objective'> {
  readonly optimizee?: Optimizee;
  /** The name `streams/train.ts` uses, accepted for an `Objective`. */
  readonly objective?: Objective;
  /** For a `tf.LayersModel`: its loss when not the one it was compiled with. */
  readonly loss?: LayersModelOptions['loss'];
}

const isObjective = (o: Optimizee): o is Objective => 'lossAndGrad' in o && typeof o.lossAndGrad === 'function';

/**
 * The `train` operator for any optimizee. An `Objective` runs as is. A `tf.LayersModel`
 * starts from its current weights (unless `initialParams` is given) and, when the stream
 * ends (completed, failed or unsubscribed), holds the last point the optimizer chose.
 */
export function trainOptimizee<S extends RoundState>(options: TrainOptimizeeOptions<S>): OperatorFunction<Batch, StepEvent> {
  const { optimizee, objective, loss, ...rest } = options;
  const target: Optimizee | undefined = optimizee ?? objective;
  if (target === undefined) throw new TypeError('train: give an optimizee (an Objective or a tf.LayersModel)');
  if (isObjective(target)) return train({ ...rest, objective: target });
  const model = target;
  const modelObjective = layersModelObjective(model, loss === undefined ? {} : { loss });
  return (source) =>
    defer(() => {
      assertBackendReady('train');
      const start = rest.initialParams ?? readParams(model);
      let latest: tf.Tensor1D | undefined;
      return source.pipe(
        train({
          ...rest,
          objective: modelObjective,
          initialParams: start,
          onRound: (state, event) => {
            latest?.dispose();
            latest = state.x.clone();
            rest.onRound?.(state, event);
          },
        }),
        finalize(() => {
          // The model's variables served as scratch space: leave them at the chosen point.
          writeParams(model, latest ?? start);
          latest?.dispose();
          if (rest.initialParams === undefined) start.dispose();
        }),
      );
    });
}
