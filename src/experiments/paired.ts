import jstat from 'jstat';
import { commonSteps, lossExactlyAt, type RunResult } from './curves.js';

/** Relative excess above the fallback's own run that counts as "above" (issue 16: 1%). */
export const PAIRED_EXCESS = 0.01;

/** A mean over seeds with its two-sided t interval (NaN bounds with fewer than two values). */
export interface Interval {
  readonly mean: number;
  readonly lo: number;
  readonly hi: number;
}

/** Mean ± t(1 − (1 − level)/2, n − 1) · s/√n, s the sample standard deviation. */
export function tInterval(values: readonly number[], level = 0.95): Interval {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, lo: NaN, hi: NaN };
  const sd = Math.sqrt(values.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
  const half = jstat.jStat.studentt.inv(1 - (1 - level) / 2, n - 1) * (sd / Math.sqrt(n));
  return { mean, lo: mean - half, hi: mean + half };
}

/** The paired difference at one logged step, over the seeds: absolute (guard − fallback) and relative (guard / fallback − 1). */
export interface PairedStep {
  readonly step: number;
  readonly diff: Interval;
  readonly rel: Interval;
}

export interface PairedComparison {
  readonly guard: string;
  readonly fallback: string;
  /** Seeds with a run of both. */
  readonly seeds: readonly number[];
  /** Every logged step at which all paired runs evaluated. */
  readonly steps: readonly PairedStep[];
  /** (seed, logged step) pairs, and those where the guard is above the fallback by more than PAIRED_EXCESS. */
  readonly pairs: number;
  readonly above: number;
  /** The largest relative excess guard / fallback − 1 and where it was (null without pairs). */
  readonly worst: { readonly excess: number; readonly seed: number; readonly step: number } | null;
  /** The last common logged step, and the seeds at or below the fallback there. */
  readonly final: { readonly step: number; readonly atOrBelow: number } | null;
  /**
   * The learned optimizer's early lead over this fallback: the area between the curves (mean
   * over seeds of fallback − L2O, trapezoids over the logged steps up to `earlyEnd` common to all
   * three), and the guard's (fallback − guard); `kept` = guard's / L2O's, null when L2O has no
   * lead. Null without L2O runs.
   */
  readonly early: { readonly steps: number; readonly l2oLead: number; readonly guardLead: number; readonly kept: number | null } | null;
}

const bySeed = (runs: readonly RunResult[]) => new Map(runs.map((r) => [r.seed, r]));

/** The guard against its fallback's own run, seed by seed (same seed, same training batches). */
export function pairedComparison(
  guard: readonly RunResult[],
  fallback: readonly RunResult[],
  l2o: readonly RunResult[],
  grid: readonly number[],
  earlyEnd: number,
): PairedComparison {
  const f = bySeed(fallback);
  const pairs = guard.filter((g) => f.has(g.seed)).map((g) => [g, f.get(g.seed)!] as const);
  const seeds = pairs.map(([g]) => g.seed);
  const stepList = pairs.length ? commonSteps(pairs.flat(), grid) : [];
  const at = (run: RunResult, step: number) => lossExactlyAt(run, step)!;
  const steps = stepList.map((step) => ({
    step,
    diff: tInterval(pairs.map(([g, s]) => at(g, step) - at(s, step))),
    rel: tInterval(pairs.map(([g, s]) => at(g, step) / at(s, step) - 1)),
  }));
  let above = 0;
  let worst: PairedComparison['worst'] = null;
  for (const [g, s] of pairs)
    for (const step of stepList) {
      const excess = at(g, step) / at(s, step) - 1;
      if (excess > PAIRED_EXCESS) above += 1;
      if (!Number.isNaN(excess) && (worst === null || excess > worst.excess)) worst = { excess, seed: g.seed, step };
    }
  const last = stepList.at(-1);
  const final = last === undefined ? null : { step: last, atOrBelow: pairs.filter(([g, s]) => at(g, last) <= at(s, last)).length };
  return {
    guard: guard[0]?.entry ?? '',
    fallback: fallback[0]?.entry ?? '',
    seeds,
    steps,
    pairs: pairs.length * stepList.length,
    above,
    worst,
    final,
    early: earlyLead(pairs, l2o, grid, earlyEnd),
  };
}

function earlyLead(
  pairs: readonly (readonly [RunResult, RunResult])[],
  l2o: readonly RunResult[],
  grid: readonly number[],
  earlyEnd: number,
): PairedComparison['early'] {
  const l = bySeed(l2o);
  const triples = pairs.filter(([g]) => l.has(g.seed)).map(([g, s]) => [g, s, l.get(g.seed)!] as const);
  if (triples.length === 0) return null;
  const steps = commonSteps(
    triples.flat(),
    grid.filter((s) => s <= earlyEnd),
  );
  // mean over seeds of fallback − the other, integrated over the steps by trapezoids (one step: its value)
  const area = (pick: (t: (typeof triples)[number]) => RunResult) => {
    const gaps = steps.map((step) => triples.reduce((a, t) => a + lossExactlyAt(t[1], step)! - lossExactlyAt(pick(t), step)!, 0) / triples.length);
    if (gaps.length === 1) return gaps[0]!;
    return gaps.slice(1).reduce((acc, g, i) => acc + ((steps[i + 1]! - steps[i]!) * (g + gaps[i]!)) / 2, 0);
  };
  const l2oLead = area((t) => t[2]);
  const guardLead = area((t) => t[0]);
  return { steps: steps.length, l2oLead, guardLead, kept: l2oLead > 0 ? guardLead / l2oLead : null };
}
