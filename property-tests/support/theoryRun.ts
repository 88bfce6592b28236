import * as E from 'fp-ts/lib/Either.js';
import type { RoundOptimizer, RoundReport, RoundState } from '../../src/guard/round.js';
import { disposeAll, disposeReplaced } from '../../src/tensor/state.js';
import type { TheoryProblem } from './exactProblem.js';

export interface ObservedRound<S> {
  readonly t: number;
  readonly before: S;
  readonly after: S;
  readonly report: RoundReport;
  /** x_t and x_{t+1} as float32 values. */
  readonly xBefore: Float32Array;
  readonly xAfter: Float32Array;
}

/**
 * Runs a round optimizer in theory mode (every batch the empty one the exact quadratic
 * ignores) from the problem's x0, handing each round to `observe` while both states are
 * alive. A divergence is a failure. Frees every state, also when `observe` throws.
 */
export function runRounds<S extends RoundState>(guard: RoundOptimizer<S>, p: TheoryProblem, rounds: number, observe: (round: ObservedRound<S>) => void): void {
  let state = guard.init(p.x0);
  try {
    let xBefore = Float32Array.from(state.x.dataSync());
    for (let t = 0; t < rounds; t++) {
      const batches = Array.from({ length: guard.batchesNeeded(state) }, () => p.batch);
      const result = guard.round(p.q, state, batches);
      if (E.isLeft(result)) throw new Error(`${guard.name} diverged in round ${t}: ${result.left.message}`);
      const [next, report] = result.right;
      const xAfter = Float32Array.from(next.x.dataSync());
      try {
        observe({ t, before: state, after: next, report, xBefore, xAfter });
      } finally {
        disposeReplaced(state, next);
        state = next;
      }
      xBefore = xAfter;
    }
  } finally {
    disposeAll(state);
  }
}
