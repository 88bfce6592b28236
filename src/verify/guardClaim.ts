import * as E from 'fp-ts/lib/Either.js';
import { rollout, type Point } from '../guard/rollout.js';
import type { RoundState } from '../guard/round.js';
import type { Objective, TensorBatch } from '../optimizee/objective.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { disposeReplaced, type StateRecord } from '../tensor/state.js';

/**
 * The guard claim of theory mode, which holds whatever the fallback: in every round the kept
 * point is no worse than the fallback's own step from the round's start, and the learned
 * optimizer's proposal is finite and deterministic. The checker replays both optimizers from
 * the guard's state with the guard's own rollout, so the fallback's candidate is exactly the
 * one the guard compared against, and the learned step is replayed twice to compare.
 */

/** What the checker reads of a guard's state: its point and the two optimizers' states, which it replays. */
export interface GuardView extends RoundState {
  readonly learned: StateRecord;
  readonly fallback: StateRecord;
}

/** One step of `opt` from the guard's point and the given state, read back; the tensors are freed. */
function replayStep(objective: Objective, opt: AnyOptimizer, s: GuardView, own: StateRecord, batch: TensorBatch): Float32Array {
  const start: Point = { x: s.x, opt: own };
  const end = rollout(objective, opt, start, [batch]);
  const x = Float32Array.from(end.x.dataSync());
  disposeReplaced(end, start);
  return x;
}

/** The first coordinate where two points differ (Object.is: bit for bit up to NaN payloads), or −1. */
function firstDifference(a: Float32Array, b: Float32Array): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

/**
 * Replays round t's candidates: the fallback's point y_G (returned), and the learned
 * optimizer's step twice, which must give the same finite point (else the reason, as text).
 */
export function replayCandidates(
  objective: Objective,
  learned: AnyOptimizer,
  fallback: AnyOptimizer,
  s: GuardView,
  batch: TensorBatch,
  t: number,
): E.Either<string, Float32Array> {
  const first = replayStep(objective, learned, s, s.learned, batch);
  const bad = first.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) return E.left(`the learned optimizer's step from x_${t} is not finite (coordinate ${bad} is ${first[bad]})`);
  const second = replayStep(objective, learned, s, s.learned, batch);
  const i = firstDifference(first, second);
  if (i >= 0)
    return E.left(
      `the learned optimizer's step from x_${t} is not deterministic: two replays from the same state and gradient differ in coordinate ${i} (${first[i]} vs ${second[i]})`,
    );
  return E.right(replayStep(objective, fallback, s, s.fallback, batch));
}
