import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { assertOptimizer, checkedStep, type Optimizer } from '../optim/optimizer.js';
import type { StateRecord } from '../tensor/state.js';
import type { RoundOptimizer, RoundState } from './round.js';

export interface PlainState<S extends StateRecord> extends RoundState {
  readonly opt: S;
}

/** One optimizer step per batch: the loss reported is the batch loss before the step. */
export function plain<S extends StateRecord>(opt: Optimizer<S>): RoundOptimizer<PlainState<S>> {
  assertOptimizer(opt, 'plain');
  return {
    name: opt.name,
    init: (params) => ({ x: params.clone(), step: 0, opt: opt.init(params) }),
    batchesNeeded: () => 1,
    round: (objective, state, [batch]) => {
      if (batch === undefined) throw new Error(`${opt.name}: a round needs one batch`);
      const { loss, grad } = objective.lossAndGrad(state.x, batch);
      const lossValue = loss.dataSync()[0]!;
      loss.dispose();
      if (!Number.isFinite(lossValue)) {
        grad.dispose();
        return E.left({ kind: 'diverged', step: state.step, message: `${opt.name}: loss is ${lossValue} at step ${state.step}` });
      }
      try {
        const [x, s] = checkedStep(opt, state.x, grad, state.opt);
        return E.right([
          { x, step: state.step + 1, opt: s },
          { steps: 1, loss: lossValue },
        ] as const);
      } finally {
        grad.dispose();
      }
    },
  };
}

export const params = (state: RoundState): tf.Tensor1D => state.x;
