/**
 * Mean curves of experiment and sweep reports (curves.json: mean training loss over seeds at each
 * logged step), and the early lead of issue 15: the area between two of them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Mean loss by logged step; a diverged mean is +∞. */
export type Curve = Map<number, number>;

export function readCurves(dir: string): Map<string, Curve> {
  if (!existsSync(join(dir, 'curves.json'))) throw new Error(`${dir}: no curves.json (not an experiment's or a sweep's report)`);
  const json = JSON.parse(readFileSync(join(dir, 'curves.json'), 'utf8')) as {
    loss: Array<{ name: string; points: Array<{ x: number; mean: number | null }> }>;
  };
  return new Map(json.loss.map((s) => [s.name, new Map(s.points.map((p) => [p.x, p.mean ?? Infinity]))]));
}

/** The series `name` of a report's curves; `dir` (the report) names where it was missing. */
export function series(curves: Map<string, Curve>, name: string, dir?: string): Curve {
  const s = curves.get(name);
  if (s === undefined) throw new Error(`${dir === undefined ? '' : `${dir}: `}no ${name} curve (have ${[...curves.keys()].join(', ')})`);
  return s;
}

/** The area under `gap` by trapezoids over the sorted steps xs. */
const trapezoids = (xs: readonly number[], gap: (x: number) => number): number =>
  xs.slice(1).reduce((area, x, i) => area + ((x - xs[i]!) * (gap(x) + gap(xs[i]!))) / 2, 0);

/** The area between the curves (baseline − other) by trapezoids over the steps in [from, to] logged in both. */
export function earlyLead(baseline: Curve, other: Curve, to: number, from = 0): number {
  const xs = [...other.keys()].filter((x) => x >= from && x <= to && baseline.has(x)).sort((p, q) => p - q);
  return trapezoids(xs, (x) => baseline.get(x)! - other.get(x)!);
}

/**
 * As earlyLead, over all the steps in [from, to] logged by `other` within the baseline's range, the
 * baseline taken linearly between its own logged steps: for curves logged at other steps (adaptive rounds).
 */
export function earlyLeadInterpolated(baseline: Curve, other: Curve, to: number, from = 0): number {
  const bx = [...baseline.keys()].sort((p, q) => p - q);
  const at = (x: number): number => {
    const i = bx.findIndex((s) => s >= x);
    if (bx[i] === x) return baseline.get(x)!;
    const [x0, x1] = [bx[i - 1]!, bx[i]!];
    return baseline.get(x0)! + ((x - x0) / (x1 - x0)) * (baseline.get(x1)! - baseline.get(x0)!);
  };
  const xs = [...other.keys()].filter((x) => x >= from && x <= to && x >= bx[0]! && x <= bx.at(-1)!).sort((p, q) => p - q);
  return trapezoids(xs, (x) => at(x) - other.get(x)!);
}
