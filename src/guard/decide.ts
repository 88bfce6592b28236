import jstat from 'jstat';
import { mean, stdDev, type Winner } from './round.js';

export type DecisionRule = 'strict' | 'paired';

/** Per-batch mean losses of each candidate on the same m comparison batches. */
export interface CandidateLosses {
  readonly learned: readonly number[] | null; // null when the learned rollout did not run
  readonly fallback: readonly number[];
  readonly anchor: readonly number[] | null;
}

export type Decision = { readonly kind: 'chosen'; readonly winner: Winner; readonly reason?: string } | { readonly kind: 'diverged'; readonly message: string };

/**
 * The paired rule's threshold: a level (a one-sided paired t test at level α, critical value
 * the (1 − α) quantile of Student's t with m − 1 degrees of freedom) or a fixed z (`--z`).
 */
export type Threshold = { readonly alpha: number } | { readonly z: number };

/**
 * The critical value, in standard errors of the mean difference, for m paired differences.
 * With m = 1 there is no spread (the standard error is 0) and the test is the strict rule.
 */
export function criticalValue(threshold: Threshold, m: number): number {
  if ('z' in threshold) return threshold.z;
  if (m < 2) return 0;
  return jstat.jStat.studentt.inv(1 - threshold.alpha, m - 1);
}

const finite = (xs: readonly number[] | null): xs is readonly number[] => xs !== null && Number.isFinite(mean(xs));

/**
 * The learned candidate against the fallback: `strict` is the paper's criterion (1),
 * f(xL) < f(xG) on the mean; `paired` takes xL only if the mean of the per-batch differences
 * is below −c·stderr (one-sided paired test, c the critical value). Non-finite losses lose, never win.
 */
function learnedVsFallback(losses: CandidateLosses, rule: DecisionRule, z: number): Decision {
  const { learned, fallback } = losses;
  if (learned === null) return { kind: 'chosen', winner: 'fallback', reason: 'learned optimizer not probed this round' };
  const lOk = finite(learned);
  const gOk = finite(fallback);
  if (!lOk && !gOk) return { kind: 'diverged', message: 'both candidates have non-finite losses' };
  if (!lOk) return { kind: 'chosen', winner: 'fallback', reason: `learned loss is ${mean(learned)}` };
  if (!gOk) return { kind: 'chosen', winner: 'learned', reason: `fallback loss is ${mean(fallback)}` };
  return { kind: 'chosen', winner: beats(learned, fallback, rule, z) ? 'learned' : 'fallback' };
}

/** Whether `a` beats `b` under the rule: strictly lower mean, or (paired) a mean per-batch difference below −z·stderr (z the critical value). */
function beats(a: readonly number[], b: readonly number[], rule: DecisionRule, z: number): boolean {
  if (rule === 'strict') return mean(a) < mean(b);
  const diffs = a.map((x, j) => x - b[j]!);
  return mean(diffs) < -z * (stdDev(diffs) / Math.sqrt(diffs.length));
}

/**
 * The guard's decision. With an anchor (docs/algorithms.md §4b) the anchor run wins unless the pick of
 * the learned-vs-fallback rule beats it under the same rule (ties: anchor, then fallback), so
 * the kept point is never worse than the fallback's own run. Under `paired` the guard thus
 * leaves the anchor only on a significant difference: picking the lowest of three noisy means
 * favours a lucky candidate (the winner's curse).
 */
export function decide(losses: CandidateLosses, rule: DecisionRule, threshold: Threshold): Decision {
  const z = rule === 'paired' ? criticalValue(threshold, losses.fallback.length) : 0;
  const pick = learnedVsFallback(losses, rule, z);
  const anchor = losses.anchor;
  if (anchor === null || !finite(anchor)) {
    if (pick.kind === 'diverged' && anchor !== null) return { kind: 'diverged', message: 'all three candidates have non-finite losses' };
    return pick;
  }
  if (pick.kind === 'diverged') return { kind: 'chosen', winner: 'anchor', reason: pick.message };
  const picked = pick.winner === 'learned' ? losses.learned! : losses.fallback;
  return finite(picked) && beats(picked, anchor, rule, z) ? pick : { kind: 'chosen', winner: 'anchor' };
}

/** Whether the candidates' mean ± one standard deviation over the m batches overlap. */
export function overlaps(a: readonly number[], b: readonly number[]): boolean {
  return Math.abs(mean(a) - mean(b)) <= stdDev(a) + stdDev(b);
}
