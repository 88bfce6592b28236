/**
 * How large an early lead any optimizer here reaches: the area between SGDnm's curve and each
 * other curve up to a step (issue 15's "early lead"), for every series of the given reports
 * (experiments or sweeps), and for their envelope, the lowest mean loss of any of them at each
 * step — a run that could switch to whichever optimizer is lowest at every step, for free:
 *
 *   npx tsx scripts/early-envelope.ts --reference docs/results/feature-mlp/mlp-mnist \
 *     --curves docs/results/early-envelope/adam --curves docs/results/early-envelope/momentum \
 *     --curves docs/results/early-envelope/sgd --target 35.4
 *
 * Of the reference report only the baseline series counts (name it in --curves too for the rest).
 * Each area is over the steps from --from to --to logged in both curves, by trapezoids, as
 * scripts/l2o-targets.ts measures it; the envelope is taken at the reference's logged steps.
 * --target A prints how much lower than the envelope, at every step, a curve must be to reach
 * the area A. --interpolate takes each area over all of a curve's own logged steps instead, the
 * baseline linear between its logged steps: for guards whose rounds end elsewhere (adaptive k).
 */
import { parseArgs } from 'node:util';
import { earlyLead, earlyLeadInterpolated, readCurves, series, type Curve } from './reportCurves.js';

const { values: a } = parseArgs({
  options: {
    reference: { type: 'string' },
    baseline: { type: 'string', default: 'SGDnm' },
    curves: { type: 'string', multiple: true, default: [] },
    from: { type: 'string', default: '10' },
    to: { type: 'string', default: '500' },
    target: { type: 'string', multiple: true, default: [] },
    interpolate: { type: 'boolean', default: false },
  },
});
if (a.reference === undefined) throw new Error('--reference DIR (a report whose curves.json has the baseline series) is required');

const [from, to] = [Number(a.from), Number(a.to)];
const reference = readCurves(a.reference);
const baseline = series(reference, a.baseline, a.reference);

const area = (c: Curve) => (a.interpolate ? earlyLeadInterpolated : earlyLead)(baseline, c, to, from);

const rows: Array<{ name: string; curve: Curve }> = [{ name: `${a.reference}: ${a.baseline}`, curve: baseline }];
for (const dir of a.curves) for (const [name, curve] of readCurves(dir)) rows.push({ name: `${dir}: ${name}`, curve });
const envelope: Curve = new Map([...baseline.keys()].map((x) => [x, Math.min(...rows.flatMap((r) => (r.curve.has(x) ? [r.curve.get(x)!] : [])))]));
/** The factor r with area(r × envelope) = target: the area is linear in r, so two evaluations fix it. */
function shrinkFor(target: number): number {
  const scaled = (r: number): Curve => new Map([...envelope].map(([x, y]) => [x, r * y]));
  const [a0, a1] = [area(scaled(0)), area(scaled(1))];
  return (a0 - target) / (a0 - a1);
}
const shownSteps = [10, 20, 50, 100, 200, 500].filter((x) => baseline.has(x));
const show = (c: Curve) => shownSteps.map((x) => c.get(x)?.toFixed(3) ?? '–');

const lines = [
  `Area between ${a.baseline} (${a.reference}) and each curve, steps ${from}–${to}; mean training loss at some steps`,
  '',
  `| curve | area | ${shownSteps.map((x) => `step ${x}`).join(' | ')} |`,
  `| --- | ---: | ${shownSteps.map(() => '---:').join(' | ')} |`,
  ...rows
    .map((r) => ({ ...r, area: area(r.curve) }))
    .sort((p, q) => q.area - p.area)
    .map((r) => `| ${r.name} | ${r.area.toFixed(2)} | ${show(r.curve).join(' | ')} |`),
  `| **envelope (lowest of all at each step)** | **${area(envelope).toFixed(2)}** | ${show(envelope).join(' | ')} |`,
  '',
  ...a.target.map((t) => {
    const cut = 1 - shrinkFor(Number(t));
    return `target ${t}: the envelope reaches ${((100 * area(envelope)) / Number(t)).toFixed(0)}% of it; a curve ${(100 * cut).toFixed(1)}% below the envelope at every step would meet it`;
  }),
];
process.stdout.write(`${lines.join('\n')}\n`);
