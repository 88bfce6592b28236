import type { RoundReport } from '../guard/round.js';

/**
 * One line of a run's event log: a round for guards, a step for plain optimizers.
 * `step` counts optimizer steps done; `loss` is the chosen point's mean loss on the
 * comparison batches (guards) or the batch loss before the step (plain optimizers).
 */
export interface StepEvent extends Omit<RoundReport, 'steps'> {
  readonly step: number;
  readonly round: number;
  readonly elapsedMs: number;
  /** Present on rounds where the run was evaluated on its fixed test subset. */
  readonly testLoss?: number;
  readonly testAccuracy?: number;
  /** Present on rounds where the run was evaluated on its fixed training subset (`trainEval`). */
  readonly trainLoss?: number;
  readonly trainAccuracy?: number;
}
