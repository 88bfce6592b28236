import type { LogSpacing } from './settings.js';
import type { StepEvent } from './events.js';

/**
 * Chooses the round events a run logs: every round up to step `dense`; after that one round
 * whenever the step enters a new bucket floor(perDecade · log10(step / dense)), about
 * `perDecade` per decade; and always the last round, evaluations, and rounds whose decision
 * was forced by a non-finite loss (a reason on a probed round). It depends only on the steps,
 * so a resumed run logs exactly the rounds the uninterrupted run would have.
 */
export class EventThinner {
  private previous: number;

  constructor(
    private readonly spacing: LogSpacing,
    private readonly totalSteps: number,
    startStep = 0,
  ) {
    this.previous = startStep;
  }

  private bucket(step: number): number {
    const { dense, perDecade } = this.spacing;
    if (step <= dense) return -1;
    return perDecade === 0 ? 0 : Math.floor(perDecade * Math.log10(step / Math.max(dense, 1)));
  }

  keep(event: StepEvent): boolean {
    const previous = this.previous;
    this.previous = event.step;
    return (
      event.step <= this.spacing.dense ||
      event.step >= this.totalSteps ||
      this.bucket(event.step) > this.bucket(previous) ||
      event.testLoss !== undefined ||
      event.trainLoss !== undefined ||
      (event.reason !== undefined && event.probed !== false)
    );
  }
}
