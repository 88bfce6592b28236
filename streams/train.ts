import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { Observable, type OperatorFunction } from 'rxjs';
import { evaluate } from '../src/optimizee/evaluate.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import type { Batch } from '../src/data/batch.js';
import type { Objective, TensorBatch } from '../src/optimizee/objective.js';
import { DivergenceError, type RoundOptimizer, type RoundState } from '../src/guard/round.js';
import { assertBackendReady } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';
import type { StepEvent } from '../src/runs/events.js';

export { DivergenceError };

export interface Evaluation {
  /** Evaluate every this many optimizer steps (at the first round reaching it). */
  readonly every: number;
  readonly batch: Batch;
}

export interface TrainOptions<S extends RoundState> {
  readonly objective: Objective;
  readonly optimizer: RoundOptimizer<S>;
  /** Optimizer steps to run; the last round may overshoot to finish its k steps. */
  readonly steps: number;
  /** Seed for the initial parameters when `initialParams` is not given. */
  readonly seed?: number;
  /** Starting point (not disposed by the run). */
  readonly initialParams?: tf.Tensor1D;
  /** A state to continue from (ownership passes to the run), e.g. a resumed checkpoint. */
  readonly initialState?: S;
  /** Where a resumed run's counters stood: rounds done and training time so far. */
  readonly start?: { readonly round: number; readonly elapsedMs: number };
  readonly evaluate?: Evaluation;
  /**
   * Where comparison batches come from (a pull: drawn when a round is ready). Without it a
   * round takes all its batches from the source in order, its training batches first.
   */
  readonly comparison?: () => Batch;
  /** Called after every round with the state now owned by the run (read it, don't keep it). */
  readonly onRound?: (state: S, event: StepEvent) => void;
  /** Called once at the end with a copy of the final parameters, which the callee owns. */
  readonly onFinish?: (params: tf.Tensor1D) => void;
}

/** The test evaluation an event carries. */
function testEvaluation(objective: Objective, x: tf.Tensor1D, batch: Batch): { testLoss: number; testAccuracy?: number } {
  const { loss, accuracy } = evaluate(objective, x, batch);
  return accuracy === undefined ? { testLoss: loss } : { testLoss: loss, testAccuracy: accuracy };
}

/**
 * Turns a stream of batches into a stream of `StepEvent`s: it groups as many batches as the
 * optimizer asks for (its comparison batches drawn from `comparison` when given), runs one pure round on them, and owns the state in between, freeing
 * what each round replaced. Completes after `steps` optimizer steps; errors with a
 * `DivergenceError` when the optimizer diverges.
 */
export function train<S extends RoundState>(options: TrainOptions<S>): OperatorFunction<Batch, StepEvent> {
  const { objective, optimizer, steps } = options;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`train: steps must be an integer ≥ 1, got ${steps}`);
  return (source) =>
    new Observable<StepEvent>((subscriber) => {
      assertBackendReady('train');
      let state: S | undefined = options.initialState;
      if (state === undefined) {
        const x0 = options.initialParams ?? objective.init(Rng.seeded(options.seed ?? 0));
        state = optimizer.init(x0);
        if (options.initialParams === undefined) x0.dispose();
      }
      let pending: Batch[] = [];
      let round = options.start?.round ?? 0;
      const started = performance.now() - (options.start?.elapsedMs ?? 0);
      const evalEvery = options.evaluate?.every;
      // The first multiple of evalEvery past the current step: the same for a resumed run.
      let nextEval = evalEvery === undefined ? Infinity : (Math.floor(state.step / evalEvery) + 1) * evalEvery;
      if (state.step >= steps) {
        disposeAll(state);
        state = undefined;
        subscriber.complete();
        return;
      }

      const runRound = (current: S, batches: readonly Batch[]): void => {
        const tensors: TensorBatch[] = batches.map((b) => toTensorBatch([b]));
        const result = (() => {
          try {
            return optimizer.round(objective, current, tensors);
          } finally {
            tensors.forEach(disposeTensorBatch);
          }
        })();
        if (E.isLeft(result)) {
          subscriber.error(new DivergenceError(result.left));
          return;
        }
        const [next, report] = result.right;
        disposeReplaced(current, next);
        state = next;
        round += 1;
        const { steps: _taken, ...fields } = report;
        let event: StepEvent = { step: next.step, round, ...fields, elapsedMs: performance.now() - started };
        if (options.evaluate && next.step >= nextEval) {
          event = { ...event, ...testEvaluation(objective, next.x, options.evaluate.batch) };
          while (nextEval <= next.step) nextEval += evalEvery!;
        }
        options.onRound?.(next, event);
        subscriber.next(event);
        if (next.step >= steps) {
          options.onFinish?.(next.x.clone());
          subscriber.complete();
        }
      };

      const subscription = source.subscribe({
        next: (batch) => {
          if (subscriber.closed || state === undefined) return;
          pending.push(batch);
          const fromComparison = options.comparison === undefined ? 0 : (optimizer.comparisonBatches?.(state) ?? 0);
          if (pending.length < optimizer.batchesNeeded(state) - fromComparison) return;
          const group = fromComparison === 0 ? pending : [...pending, ...Array.from({ length: fromComparison }, options.comparison!)];
          pending = [];
          try {
            runRound(state, group);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
      return () => {
        subscription.unsubscribe();
        if (state !== undefined) disposeAll(state);
        state = undefined;
      };
    });
}
