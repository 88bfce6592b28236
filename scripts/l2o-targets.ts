/**
 * Issue 15's targets for a learned optimizer, read from experiment reports (curves.json: mean
 * training loss over seeds at each logged step), as a table:
 *
 *   npx tsx scripts/l2o-targets.ts --mnist docs/results/mlp-mnist --baseline docs/results/lstm/mlp-mnist \
 *     --fashion docs/results/mlp-fashion --conv docs/results/conv-mnist --spirals docs/results/mlp-spirals
 *
 * `--baseline` is the same experiment with the learned optimizer it is measured against (the
 * anchored guard's early lead must be at least twice the baseline's). `--guards` (and
 * `--guards-baseline`, best the baseline's `guards` run on the same seeds) does the same for each
 * anchored guard of a `guards` experiment (default decision, paired test) the baseline also has,
 * with the verdict of its seed-by-seed claim against SGDnm's own run.
 * `--mnist-reference DIR` supplies SGDnm's and Adam's curves to a `--mnist` report that has only the
 * learned optimizer's (`lgl2o experiment mlp-mnist --only l2o`, the same seeds and steps);
 * `--fashion-reference` and `--conv-reference` do the same for `--fashion` and `--conv`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { earlyLead, readCurves, series, type Curve } from './reportCurves.js';

const { values: a } = parseArgs({
  options: {
    mnist: { type: 'string' },
    'mnist-reference': { type: 'string' },
    baseline: { type: 'string' },
    fashion: { type: 'string' },
    'fashion-reference': { type: 'string' },
    conv: { type: 'string' },
    'conv-reference': { type: 'string' },
    spirals: { type: 'string' },
    guards: { type: 'string' },
    'guards-baseline': { type: 'string' },
  },
});

/** The logged step nearest to `step` (the curves log at log-spaced steps and every 1/200 of the horizon). */
const near = (c: Curve, step: number): number => [...c.keys()].reduce((b, x) => (Math.abs(x - step) < Math.abs(b - step) ? x : b));
const fmt = (v: number) => (Number.isFinite(v) ? v.toPrecision(4) : String(v));
/** The report's series `name`, or the reference report's where the report lacks it (a run with `--only l2o`). */
const seriesOr = (c: Map<string, Curve>, reference: string | undefined, name: string): Curve =>
  c.has(name) || reference === undefined ? series(c, name) : series(readCurves(reference), name, reference);
const rows: string[][] = [];
const row = (target: string, measured: string, met: boolean) => rows.push([target, measured, met ? 'met' : '**not met**']);
/** Lines printed under the table: measurements that are no target but explain one. */
const notes: string[] = [];

if (a.mnist !== undefined) {
  const c = readCurves(a.mnist);
  const [sgd, adam, l2o] = [seriesOr(c, a['mnist-reference'], 'SGDnm'), seriesOr(c, a['mnist-reference'], 'Adam'), series(c, 'L2O')];
  // Steps both reports logged (a shorter run logs other steps than a longer one).
  const early = [...l2o.keys()].filter((x) => x >= 50 && x <= 2000 && sgd.has(x) && adam.has(x));
  const misses = early.filter((x) => !(l2o.get(x)! < sgd.get(x)! && l2o.get(x)! < adam.get(x)!));
  row(
    'mlp-mnist: below SGDnm and Adam at every logged step 50–2,000',
    `${early.length - misses.length} of ${early.length} steps${misses.length > 0 ? ` (not at ${misses.slice(0, 5).join(', ')}${misses.length > 5 ? ', …' : ''})` : ''}`,
    misses.length === 0,
  );
  const s5 = near(l2o, 5000);
  if (!sgd.has(s5)) throw new Error(`${a.mnist}: SGDnm has no loss at step ${s5}, the learned optimizer's step nearest 5,000`);
  row(`mlp-mnist: below SGDnm at step ${s5}`, `${fmt(l2o.get(s5)!)} vs ${fmt(sgd.get(s5)!)}`, l2o.get(s5)! < sgd.get(s5)!);
  let best = Infinity;
  let worst = 0;
  let worstAt = 0;
  for (const x of [...l2o.keys()].filter((x) => x <= 10000).sort((p, q) => p - q)) {
    best = Math.min(best, l2o.get(x)!);
    if (l2o.get(x)! / best > worst) [worst, worstAt] = [l2o.get(x)! / best, x];
  }
  row('mlp-mnist: never more than 10% above its own best before 10,000', `worst ${fmt(worst)} × its best (step ${worstAt})`, worst <= 1.1);
  const anchored = c.get('LGL2O anchored');
  if (anchored === undefined) {
    process.stdout.write(`${a.mnist}: no LGL2O anchored curve, its targets skipped\n`);
  } else {
    const above = [...anchored.keys()].filter((x) => x <= 10000 && sgd.has(x) && anchored.get(x)! > sgd.get(x)!);
    row('mlp-mnist: anchored guard at or below SGDnm (mean) at every logged step', `above at ${above.length} of ${anchored.size} steps`, above.length === 0);
    if (a.baseline !== undefined) {
      const b = readCurves(a.baseline);
      const now = earlyLead(sgd, anchored, 500);
      const before = earlyLead(series(b, 'SGDnm'), series(b, 'LGL2O anchored'), 500);
      row(
        'mlp-mnist: anchored guard early lead (area between SGDnm and it, steps ≤ 500) ≥ 2× the baseline',
        `${fmt(now)} vs ${fmt(before)} (${fmt(now / before)}×)`,
        now >= 2 * before,
      );
    }
  }
}
if (a.guards !== undefined) {
  const c = readCurves(a.guards);
  const claims = (
    JSON.parse(readFileSync(join(a.guards, 'claims.json'), 'utf8')) as { claims: Array<{ statement: string; verdict: string; measured: string }> }
  ).claims;
  const sgd = series(c, 'SGDnm');
  const baseline = a['guards-baseline'] === undefined ? undefined : readCurves(a['guards-baseline']);
  if (c.has('L2O')) notes.push(`guards: the learned optimizer alone, area between SGDnm and it to step 500: ${fmt(earlyLead(sgd, series(c, 'L2O'), 500))}`);
  // Both anchored guards the report holds, each checked on both criteria (the target asks them of one guard).
  for (const name of ['LGL2O anchored', 'LGL2O anchored, paired test'].filter((n) => c.has(n))) {
    const guard = series(c, name);
    const paired = claims.find((x) => x.statement.startsWith('Seed by seed') && x.statement.includes(`, ${name} is above`));
    if (paired !== undefined)
      row(
        `guards: ${name}, seed by seed against SGDnm's own run (issue 16's paired criterion)`,
        paired.measured.split(';')[0]!,
        paired.verdict === 'supported',
      );
    if (baseline === undefined) continue;
    if (!baseline.has(name)) {
      notes.push(`guards: ${a['guards-baseline']} has no ${name}: its early lead is not compared`);
    } else {
      const now = earlyLead(sgd, guard, 500);
      const before = earlyLead(series(baseline, 'SGDnm'), series(baseline, name), 500);
      row(
        `guards: ${name}, early lead (area between SGDnm and it, steps ≤ 500) ≥ 2× the baseline`,
        `${fmt(now)} vs ${fmt(before)} (${fmt(now / before)}×)`,
        now >= 2 * before,
      );
    }
  }
}
const atStep = (dir: string | undefined, reference: string | undefined, label: string, step: number) => {
  if (dir === undefined) return;
  const c = readCurves(dir);
  const [sgd, l2o] = [seriesOr(c, reference, 'SGDnm'), series(c, 'L2O')];
  const x = near(l2o, step);
  if (!sgd.has(x)) throw new Error(`${reference ?? dir}: SGDnm has no loss at step ${x}, the learned optimizer's step nearest ${step}`);
  row(`${label}: at or below SGDnm at step ${x}`, `${fmt(l2o.get(x)!)} vs ${fmt(sgd.get(x)!)}`, l2o.get(x)! <= sgd.get(x)!);
};
atStep(a.fashion, a['fashion-reference'], 'mlp-fashion', 2000);
atStep(a.conv, a['conv-reference'], 'conv-mnist', 1000);
if (a.spirals !== undefined) {
  const l2o = series(readCurves(a.spirals), 'L2O');
  const last = Math.max(...l2o.keys());
  const finite = [...l2o.values()].every(Number.isFinite);
  row('mlp-spirals: no divergence (50,000 steps)', `final ${fmt(l2o.get(last)!)} at ${last}${finite ? '' : ', diverged'}`, finite);
}
process.stdout.write(['| target | measured | verdict |', '| --- | --- | --- |', ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n');
if (notes.length > 0) process.stdout.write(`\n${notes.join('\n')}\n`);
