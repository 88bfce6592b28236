import type { Series } from '../figures/lineFigure.js';
import type { EventLog } from './records.js';

/** One finished run of an experiment, as read back from its logs. */
export interface RunResult {
  readonly entry: string;
  readonly seed: number;
  readonly log: EventLog;
  /** A diverged run stopped early (exit code 3); its loss counts as +∞ from then on. */
  readonly status: 'finished' | 'diverged';
  readonly wallMs: number;
  /** CPU time of the run's processes, when recorded (timing.json). */
  readonly cpuMs?: number;
}

/** A run's loss at `target`: its first evaluation at or after it. */
export interface Sample {
  readonly step: number;
  readonly loss: number;
}

/** Index of the first evaluation at step ≥ target (evaluations are in step order). */
function firstAtOrAfter(evals: EventLog['evals'], target: number): number {
  let lo = 0;
  let hi = evals.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (evals[mid]!.step < target) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The run's training loss at `target`: the first evaluation at or after it, +∞ when that loss
 * was not finite or the run diverged before it; undefined beyond a finished run's last evaluation.
 */
export function sampleAt(run: RunResult, target: number): Sample | undefined {
  const i = firstAtOrAfter(run.log.evals, target);
  const e = run.log.evals[i];
  if (e === undefined) return run.status === 'diverged' ? { step: target, loss: Infinity } : undefined;
  return { step: e.step, loss: Number.isFinite(e.loss) ? e.loss : Infinity };
}

/** The run's training loss exactly at `step`, when it evaluated there. */
export function lossExactlyAt(run: RunResult, step: number): number | undefined {
  const e = run.log.evals[firstAtOrAfter(run.log.evals, step)];
  if (e !== undefined && e.step === step) return Number.isFinite(e.loss) ? e.loss : Infinity;
  return run.status === 'diverged' && step > run.log.lastStep ? Infinity : undefined;
}

export interface Stats {
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly values: readonly number[];
}

export function stats(values: readonly number[]): Stats {
  return {
    mean: values.reduce((a, b) => a + b, 0) / values.length,
    min: Math.min(...values),
    max: Math.max(...values),
    values,
  };
}

/** Mean, min and max over seeds of the loss at `target` (first evaluation at or after it); undefined if a seed has none. */
export function statsAt(runs: readonly RunResult[], target: number): (Stats & { step: number }) | undefined {
  const samples = runs.map((r) => sampleAt(r, target)).filter((s): s is Sample => s !== undefined);
  if (runs.length === 0 || samples.length < runs.length) return undefined;
  return { ...stats(samples.map((s) => s.loss)), step: samples.reduce((a, s) => a + s.step, 0) / samples.length };
}

/** Steps at which every one of `runs` evaluated exactly (the common logged steps of a comparison). */
export function commonSteps(runs: readonly RunResult[], candidates: readonly number[]): number[] {
  return candidates.filter((s) => runs.every((r) => lossExactlyAt(r, s) !== undefined));
}

/** Mean/min/max over seeds at a step where every run evaluated exactly. */
export function statsExactlyAt(runs: readonly RunResult[], step: number): Stats | undefined {
  const values = runs.map((r) => lossExactlyAt(r, step)).filter((v): v is number => v !== undefined);
  return runs.length > 0 && values.length === runs.length ? stats(values) : undefined;
}

/**
 * A figure line: mean with min–max band over seeds at the grid's targets, at the mean of
 * the steps actually evaluated; a point is drawn once (rounds of k steps skip targets) and
 * only while every seed's loss is finite.
 */
export function lossSeries(name: string, runs: readonly RunResult[], targets: readonly number[]): Series {
  const points: { x: number; mean: number; min: number; max: number }[] = [];
  for (const target of targets) {
    const s = statsAt(runs, target);
    if (s === undefined || !Number.isFinite(s.max)) continue;
    if (points.length > 0 && points[points.length - 1]!.x >= s.step) continue;
    points.push({ x: s.step, mean: s.mean, min: s.min, max: s.max });
  }
  return { name, points };
}

/**
 * LGL2O's use_l2o track as in the paper (1 = learned update, 0.5 = fallback): per seed, the
 * share of rounds ending in (previous target, target] that kept the learned candidate,
 * mapped to 0.5 + 0.5·share; mean and min–max over the seeds that had rounds there.
 */
export function useL2OSeries(name: string, runs: readonly RunResult[], targets: readonly number[]): Series {
  const points: { x: number; mean: number; min: number; max: number }[] = [];
  const cursors = runs.map(() => 0);
  let previous = 0;
  for (const target of targets) {
    const shares: number[] = [];
    runs.forEach((run, i) => {
      let used = 0;
      let n = 0;
      const rounds = run.log.rounds;
      while (cursors[i]! < rounds.length && rounds[cursors[i]!]!.step <= target) {
        const r = rounds[cursors[i]!]!;
        if (r.step > previous) {
          used += r.useL2O;
          n += 1;
        }
        cursors[i]! += 1;
      }
      if (n > 0) shares.push(0.5 + (0.5 * used) / n);
    });
    if (shares.length > 0) {
      const s = stats(shares);
      points.push({ x: target, mean: s.mean, min: s.min, max: s.max });
    }
    previous = target;
  }
  return { name, points };
}

/** Late-training behaviour of one guard run over the last `fraction` of its horizon. */
export interface LateStats {
  /** Changes of the chosen optimizer per 1 000 steps. */
  readonly switchesPer1000: number;
  /** Share of rounds that changed the chosen optimizer. */
  readonly switchRate: number;
  /** Standard deviation of the evaluated loss around its least-squares line in the window. */
  readonly lossNoise: number;
  /** `lossNoise` relative to the mean loss of the window. */
  readonly relativeNoise: number;
  readonly meanLoss: number;
}

/** Residual standard deviation of y around its least-squares line in x. */
export function detrendedStd(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 3) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (ys[i]! - my - slope * (xs[i]! - mx)) ** 2;
  return Math.sqrt(ss / (n - 2));
}

export function lateStats(run: RunResult, horizon: number, fraction = 0.1): LateStats {
  const from = horizon * (1 - fraction);
  const rounds = run.log.rounds;
  let switches = 0;
  let counted = 0;
  for (let i = 1; i < rounds.length; i++) {
    if (rounds[i]!.step <= from) continue;
    counted += 1;
    if (rounds[i]!.useL2O !== rounds[i - 1]!.useL2O) switches += 1;
  }
  const late = run.log.evals.filter((e) => e.step > from);
  const xs = late.map((e) => e.step);
  const ys = late.map((e) => (Number.isFinite(e.loss) ? e.loss : Infinity));
  const meanLoss = ys.reduce((a, b) => a + b, 0) / ys.length;
  const lossNoise = detrendedStd(xs, ys);
  return {
    switchesPer1000: (1000 * switches) / (horizon - from),
    switchRate: counted === 0 ? 0 : switches / counted,
    lossNoise,
    relativeNoise: lossNoise / meanLoss,
    meanLoss,
  };
}
