import { commonSteps, lateStats, statsAt, statsExactlyAt, type RunResult, type Stats } from './curves.js';
import { PAIRED_EXCESS, pairedComparison, type PairedComparison } from './paired.js';
import type { ClaimId, Entry, Setting } from './settings.js';

/**
 * How a measurement bears on a claim. `partly`: the claim holds in part (one of its two
 * halves, or with exceptions at under 10% of the logged steps); `not applicable`: its premise
 * does not hold here (e.g. no early lead to lose); `not measured`: a needed run is missing.
 */
export type Verdict = 'supported' | 'partly' | 'contradicted' | 'not applicable' | 'not measured';

export interface Claim {
  readonly id: ClaimId;
  readonly source: string;
  readonly statement: string;
  readonly verdict: Verdict;
  /** The measured numbers in words. */
  readonly measured: string;
  /** The same numbers for machines (null for a non-finite loss). */
  readonly numbers: Readonly<Record<string, number | boolean | null>>;
  /** The entry a per-guard claim is about (`paired-vs-fallback`). */
  readonly entry?: string;
}

/** An experiment's runs, read back: by entry id, one run per seed. */
export interface Results {
  readonly setting: Setting;
  readonly horizon: number;
  /** The scheduled evaluation steps. */
  readonly grid: readonly number[];
  readonly runs: ReadonlyMap<string, readonly RunResult[]>;
}

/** The early phase in which the learned optimizer's lead is measured (paper §4.1: "between steps 0 and 100"). */
export const EARLY_END = 100;
/** Share of the horizon that counts as late training. */
export const LATE_FRACTION = 0.1;

export const fmt = (x: number): string =>
  Number.isFinite(x) ? (Math.abs(x) >= 1e4 || Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toPrecision(4)) : x > 0 ? '∞' : String(x);
const pct = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(0)}%` : String(x));
const num = (x: number): number | null => (Number.isFinite(x) ? x : null);

function claim(
  id: ClaimId,
  source: string,
  statement: string,
  verdict: Verdict,
  measured: string,
  numbers: Record<string, number | boolean | null> = {},
): Claim {
  return { id, source, statement, verdict, measured, numbers };
}

const notMeasured = (id: ClaimId, source: string, statement: string, missing: readonly string[]): Claim =>
  claim(id, source, statement, 'not measured', `no runs of ${missing.join(', ')}`);

/** Runs of each named entry, or the names that have none. */
function need(r: Results, ids: readonly string[]): { ok: true; runs: RunResult[][] } | { ok: false; missing: string[] } {
  const runs = ids.map((id) => [...(r.runs.get(id) ?? [])]);
  const missing = ids.filter((_, i) => runs[i]!.length === 0);
  return missing.length > 0 ? { ok: false, missing } : { ok: true, runs };
}

/** The steps up to EARLY_END at which all of `runs` evaluated. */
const earlySteps = (r: Results, runs: readonly RunResult[]): number[] =>
  commonSteps(
    runs,
    r.grid.filter((s) => s <= EARLY_END),
  );
/** Σ over `steps` of mean(a) − mean(b): the area between two curves (positive when b is lower). */
const gap = (steps: readonly number[], a: readonly RunResult[], b: readonly RunResult[]): number =>
  steps.reduce((acc, s) => acc + statsExactlyAt(a, s)!.mean - statsExactlyAt(b, s)!.mean, 0);
const meanAt = (runs: readonly RunResult[], step: number): number => statsAt(runs, step)?.mean ?? NaN;
const finalStats = (r: Results, runs: readonly RunResult[]): Stats => statsAt(runs, r.horizon) ?? { mean: NaN, min: NaN, max: NaN, values: [] };
/** Mean over seeds of each seed's mean evaluated loss over the last LATE_FRACTION of the horizon. */
const lateMean = (r: Results, runs: readonly RunResult[]): number =>
  runs.map((run) => lateStats(run, r.horizon, LATE_FRACTION).meanLoss).reduce((a, b) => a + b, 0) / runs.length;

/** Counts the steps where `bad` holds; partly when they are fewer than 10% of the steps. */
function everyStep(steps: readonly number[], bad: (s: number) => boolean): { violations: number[]; verdict: Verdict } {
  const violations = steps.filter(bad);
  const verdict: Verdict =
    steps.length === 0 ? 'not measured' : violations.length === 0 ? 'supported' : violations.length < 0.1 * steps.length ? 'partly' : 'contradicted';
  return { violations, verdict };
}
const stepsText = (xs: readonly number[]): string => (xs.length <= 6 ? xs.join(', ') : `${xs.slice(0, 5).join(', ')}, … (${xs.length} in all)`);

const SRC = {
  s41: 'paper §4.1',
  s4: 'paper §4, §5',
  ood: 'paper §4.3-4.5',
  s42: 'paper §4.2',
  s46: 'paper §4.6',
  appH: 'paper §4.2, App. H',
  ours: 'docs/algorithms.md §4b (this project)',
};

function l2oEarly(r: Results): Claim {
  const statement = `L2O's mean loss is below SGDnm's early (logged steps up to ${EARLY_END}) in distribution`;
  const got = need(r, ['l2o', 'sgd']);
  if (!got.ok) return notMeasured('l2o-early', SRC.s41, statement, got.missing);
  const [l2o, sgd] = got.runs as [RunResult[], RunResult[]];
  const steps = earlySteps(r, [...l2o, ...sgd]);
  const below = steps.filter((s) => statsExactlyAt(l2o, s)!.mean < statsExactlyAt(sgd, s)!.mean);
  const share = below.length / steps.length;
  const verdict: Verdict = steps.length === 0 ? 'not measured' : share >= 0.75 ? 'supported' : share <= 0.25 ? 'contradicted' : 'partly';
  const last = steps[steps.length - 1] ?? NaN;
  const measured =
    `L2O below SGDnm at ${below.length} of ${steps.length} logged steps up to ${EARLY_END}; mean gap SGDnm − L2O ${fmt(gap(steps, sgd, l2o) / steps.length)}; ` +
    `step ${last}: L2O ${fmt(meanAt(l2o, last))} vs SGDnm ${fmt(meanAt(sgd, last))}`;
  return claim('l2o-early', SRC.s41, statement, verdict, measured, {
    earlySteps: steps.length,
    l2oBelow: below.length,
    meanGap: num(gap(steps, sgd, l2o) / steps.length),
    [`l2o@${last}`]: num(meanAt(l2o, last)),
    [`sgd@${last}`]: num(meanAt(sgd, last)),
  });
}

function l2oLate(r: Results): Claim {
  const statement = 'L2O plateaus or diverges later: SGDnm overtakes it, or its loss rises above its best';
  const got = need(r, ['l2o', 'sgd']);
  if (!got.ok) return notMeasured('l2o-late', SRC.s41, statement, got.missing);
  const [l2o, sgd] = got.runs as [RunResult[], RunResult[]];
  const steps = commonSteps([...l2o, ...sgd], r.grid);
  const l2oMeans = steps.map((s) => statsExactlyAt(l2o, s)!.mean);
  const sgdMeans = steps.map((s) => statsExactlyAt(sgd, s)!.mean);
  const best = Math.min(...l2oMeans.filter(Number.isFinite));
  const bestStep = steps[l2oMeans.indexOf(best)] ?? NaN;
  // The step from which SGDnm stays below L2O to the end.
  let overtaken = NaN;
  for (let i = steps.length - 1; i >= 0 && sgdMeans[i]! < l2oMeans[i]!; i--) overtaken = steps[i]!;
  const l2oFinal = finalStats(r, l2o).mean;
  const sgdFinal = finalStats(r, sgd).mean;
  const rises = l2oFinal > 1.1 * best;
  const verdict: Verdict = Number.isFinite(overtaken) || rises ? 'supported' : 'contradicted';
  const measured =
    `L2O best ${fmt(best)} at step ${bestStep}, final ${fmt(l2oFinal)} (${rises ? 'rose' : 'did not rise'} >10% above its best); ` +
    `SGDnm final ${fmt(sgdFinal)}; ${Number.isFinite(overtaken) ? `SGDnm below L2O from step ${overtaken} on` : 'SGDnm never overtakes L2O for good'}`;
  return claim('l2o-late', SRC.s41, statement, verdict, measured, {
    l2oBest: num(best),
    l2oBestStep: num(bestStep),
    l2oFinal: num(l2oFinal),
    sgdFinal: num(sgdFinal),
    overtakenAt: num(overtaken),
  });
}

function bestOfBoth(r: Results, guard = 'lgl2o', label = 'LGL2O'): Claim {
  const statement = `${label}'s mean loss is within the seeds' spread of the better of L2O and SGDnm (at or below its max) at every logged step`;
  const got = need(r, [guard, 'l2o', 'sgd']);
  if (!got.ok) return notMeasured('lgl2o-best-of-both', SRC.s4, statement, got.missing);
  const [g, l2o, sgd] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const steps = commonSteps([...g, ...l2o, ...sgd], r.grid);
  const at = (runs: RunResult[], s: number) => statsExactlyAt(runs, s)!;
  const better = (s: number) => (at(l2o, s).mean < at(sgd, s).mean ? at(l2o, s) : at(sgd, s));
  const { violations, verdict } = everyStep(steps, (s) => !(at(g, s).mean <= better(s).max));
  const ratios = steps.map((s) => at(g, s).mean / Math.min(at(l2o, s).mean, at(sgd, s).mean));
  const worst = Math.max(...ratios.filter((x) => !Number.isNaN(x)));
  const worstStep = steps[ratios.indexOf(worst)] ?? NaN;
  const measured =
    `${violations.length} of ${steps.length} logged steps outside${violations.length ? ` (at ${stepsText(violations)})` : ''}; ` +
    `worst ratio to the better mean ${fmt(worst)} at step ${worstStep}; final ${label} ${fmt(finalStats(r, g).mean)}, L2O ${fmt(finalStats(r, l2o).mean)}, SGDnm ${fmt(finalStats(r, sgd).mean)}`;
  return claim('lgl2o-best-of-both', SRC.s4, statement, verdict, measured, {
    loggedSteps: steps.length,
    violations: violations.length,
    firstViolation: num(violations[0] ?? NaN),
    worstRatio: num(worst),
    worstRatioStep: num(worstStep),
  });
}

function gl2oEarly(r: Results): Claim {
  const statement = `GL2O loses much (over half) of L2O's early lead over SGDnm (area between the curves, logged steps up to ${EARLY_END})`;
  const got = need(r, ['gl2o', 'l2o', 'sgd']);
  if (!got.ok) return notMeasured('gl2o-early', SRC.s41, statement, got.missing);
  const [gl2o, l2o, sgd] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const steps = earlySteps(r, [...gl2o, ...l2o, ...sgd]);
  const lead = gap(steps, sgd, l2o);
  const kept = gap(steps, sgd, gl2o) / lead;
  const numbers = { earlySteps: steps.length, l2oLead: num(lead), gl2oLead: num(gap(steps, sgd, gl2o)), keptShare: num(kept) };
  const text = `over ${steps.length} logged steps up to ${EARLY_END}: Σ(SGDnm − L2O) ${fmt(lead)}, Σ(SGDnm − GL2O) ${fmt(gap(steps, sgd, gl2o))}`;
  if (!(lead > 0))
    return claim('gl2o-early', SRC.s41, statement, steps.length ? 'not applicable' : 'not measured', `${text}: L2O has no lead to lose`, numbers);
  const verdict: Verdict = kept < 0.5 ? 'supported' : kept < 0.9 ? 'partly' : 'contradicted';
  return claim('gl2o-early', SRC.s41, statement, verdict, `${text}: GL2O keeps ${pct(kept)} of L2O's lead`, numbers);
}

function oodTracks(r: Results): Claim {
  const statement = "Out of distribution LGL2O tracks SGDnm (mean at or below SGDnm's seed max at every logged step) while L2O diverges";
  const got = need(r, ['lgl2o', 'l2o', 'sgd']);
  if (!got.ok) return notMeasured('ood-tracks-fallback', SRC.ood, statement, got.missing);
  const [g, l2o, sgd] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const steps = commonSteps([...g, ...sgd], r.grid);
  const tracks = everyStep(steps, (s) => !(statsExactlyAt(g, s)!.mean <= statsExactlyAt(sgd, s)!.max));
  const l2oSteps = commonSteps(l2o, r.grid);
  const l2oMeans = l2oSteps.map((s) => statsExactlyAt(l2o, s)!.mean);
  const first = l2oMeans[0] ?? NaN;
  const best = Math.min(...l2oMeans);
  const final = finalStats(r, l2o).mean;
  const divergedSeeds = l2o.filter((run) => run.status === 'diverged' || run.log.evals.some((e) => !Number.isFinite(e.loss))).length;
  const diverges = divergedSeeds > 0 || final >= first || final > 2 * best;
  const verdict: Verdict =
    steps.length === 0
      ? 'not measured'
      : tracks.verdict === 'supported' && diverges
        ? 'supported'
        : tracks.verdict !== 'contradicted' || diverges
          ? 'partly'
          : 'contradicted';
  const measured =
    `LGL2O above SGDnm's seed max at ${tracks.violations.length} of ${steps.length} logged steps${tracks.violations.length ? ` (${stepsText(tracks.violations)})` : ''}; ` +
    `final LGL2O ${fmt(finalStats(r, g).mean)} vs SGDnm ${fmt(finalStats(r, sgd).mean)}; ` +
    `L2O first ${fmt(first)}, best ${fmt(best)}, final ${fmt(final)}, ${divergedSeeds} of ${l2o.length} seeds non-finite: ${diverges ? 'diverges' : 'does not diverge'}`;
  return claim('ood-tracks-fallback', SRC.ood, statement, verdict, measured, {
    loggedSteps: steps.length,
    aboveSgdMax: tracks.violations.length,
    l2oFirst: num(first),
    l2oBest: num(best),
    l2oFinal: num(final),
    l2oNonFiniteSeeds: divergedSeeds,
    l2oDiverges: diverges,
  });
}

function spiralsSynergy(r: Results): Claim {
  const statement = 'On Spirals LGL2O ends below both L2O and SGDnm (paper: after 50k steps)';
  const got = need(r, ['lgl2o', 'l2o', 'sgd']);
  if (!got.ok) return notMeasured('spirals-synergy', SRC.s42, statement, got.missing);
  const [g, l2o, sgd] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const [fg, fl, fs] = [g, l2o, sgd].map((x) => finalStats(r, x).mean) as [number, number, number];
  const [lg, ll, ls] = [g, l2o, sgd].map((x) => lateMean(r, x)) as [number, number, number];
  const beats = [fg < fl, fg < fs].filter(Boolean).length;
  const verdict: Verdict = beats === 2 ? 'supported' : beats === 1 ? 'partly' : 'contradicted';
  const measured =
    `at step ${r.horizon}: LGL2O ${fmt(fg)}, L2O ${fmt(fl)}, SGDnm ${fmt(fs)}; mean over the last ${pct(LATE_FRACTION)}: ` +
    `LGL2O ${fmt(lg)}, L2O ${fmt(ll)}, SGDnm ${fmt(ls)}${r.horizon < 50_000 ? ` (horizon ${r.horizon} < the paper's 50k)` : ''}`;
  return claim('spirals-synergy', SRC.s42, statement, verdict, measured, {
    lgl2oFinal: num(fg),
    l2oFinal: num(fl),
    sgdFinal: num(fs),
    lgl2oLate: num(lg),
    l2oLate: num(ll),
    sgdLate: num(ls),
  });
}

function adamFallback(r: Results): Claim {
  const statement = 'LGL2O with Adam as the fallback ends below LGL2O with SGDnm as the fallback';
  const got = need(r, ['lgl2o-adam', 'lgl2o']);
  if (!got.ok) return notMeasured('adam-fallback', SRC.s46, statement, got.missing);
  const [a, s] = got.runs as [RunResult[], RunResult[]];
  const [fa, fs] = [finalStats(r, a), finalStats(r, s)];
  const [la, ls] = [lateMean(r, a), lateMean(r, s)];
  const verdict: Verdict = fa.mean < fs.mean ? (la < ls ? 'supported' : 'partly') : la < ls ? 'partly' : 'contradicted';
  const measured = `at step ${r.horizon}: Adam fallback ${fmt(fa.mean)} [${fmt(fa.min)}, ${fmt(fa.max)}] vs SGDnm fallback ${fmt(fs.mean)} [${fmt(fs.min)}, ${fmt(fs.max)}]; last ${pct(LATE_FRACTION)}: ${fmt(la)} vs ${fmt(ls)}`;
  return claim('adam-fallback', SRC.s46, statement, verdict, measured, {
    adamFinal: num(fa.mean),
    sgdFinal: num(fs.mean),
    adamLate: num(la),
    sgdLate: num(ls),
  });
}

function kmStability(r: Results): Claim {
  const statement = `Larger k = m removes LGL2O's late switching noise (last ${pct(LATE_FRACTION)} of steps: fewer switches, less loss noise)`;
  const ids = ['lgl2o', 'lgl2o-k30', 'lgl2o-k100'];
  const got = need(r, ids);
  if (!got.ok) return notMeasured('km-stability', SRC.appH, statement, got.missing);
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const per = got.runs.map((runs) => {
    const late = runs.map((run) => lateStats(run, r.horizon, LATE_FRACTION));
    return { switches: avg(late.map((l) => l.switchesPer1000)), noise: avg(late.map((l) => l.relativeNoise)), loss: avg(late.map((l) => l.meanLoss)) };
  });
  const [k10, , k100] = per as [(typeof per)[0], (typeof per)[0], (typeof per)[0]];
  const fewer = k100.switches < k10.switches || (k10.switches === 0 && k100.switches === 0);
  const quieter = k100.noise < k10.noise;
  const verdict: Verdict = fewer && quieter ? 'supported' : fewer || quieter ? 'partly' : 'contradicted';
  const labels = ['k=m=10', 'k=m=30', 'k=m=100'];
  const measured = per.map((p, i) => `${labels[i]}: ${fmt(p.switches)} switches/1000 steps, loss noise ${pct(p.noise)} of ${fmt(p.loss)}`).join('; ');
  return claim(
    'km-stability',
    SRC.appH,
    statement,
    verdict,
    measured,
    Object.fromEntries(
      per.flatMap((p, i) => [
        [`switches${[10, 30, 100][i]}`, num(p.switches)],
        [`noise${[10, 30, 100][i]}`, num(p.noise)],
        [`late${[10, 30, 100][i]}`, num(p.loss)],
      ]),
    ),
  );
}

function anchored(r: Results): Claim {
  const statement = `The anchored LGL2O's mean loss is at or below SGDnm's at every logged step and keeps at least half of L2O's early lead (area, logged steps up to ${EARLY_END})`;
  const got = need(r, ['lgl2o-anchor', 'sgd', 'l2o']);
  if (!got.ok) return notMeasured('anchored', SRC.ours, statement, got.missing);
  const [a, sgd, l2o] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const steps = commonSteps([...a, ...sgd], r.grid);
  const at = (runs: RunResult[], s: number) => statsExactlyAt(runs, s)!;
  const strict = everyStep(steps, (s) => !(at(a, s).mean <= at(sgd, s).mean));
  const spread = everyStep(steps, (s) => !(at(a, s).mean <= at(sgd, s).max));
  const excess = steps.map((s) => at(a, s).mean / at(sgd, s).mean - 1);
  const worst = Math.max(...excess);
  const early = earlySteps(r, [...a, ...sgd, ...l2o]);
  const lead = gap(early, sgd, l2o);
  const kept = lead > 0 ? gap(early, sgd, a) / lead : NaN;
  const keeps = !(lead > 0) || kept >= 0.5;
  const below = strict.violations.length === 0;
  const verdict: Verdict =
    steps.length === 0 ? 'not measured' : below && keeps ? 'supported' : (spread.violations.length === 0 && keeps) || below ? 'partly' : 'contradicted';
  const leadText =
    lead > 0
      ? `keeps ${pct(kept)} of L2O's early lead (Σ over ${early.length} logged steps up to ${EARLY_END}: SGDnm − anchored ${fmt(gap(early, sgd, a))}, SGDnm − L2O ${fmt(lead)})`
      : 'L2O has no early lead here';
  const measured = `above SGDnm's mean at ${strict.violations.length} of ${steps.length} logged steps${strict.violations.length ? ` (${stepsText(strict.violations)}; worst +${pct(worst)}; above SGDnm's seed max at ${spread.violations.length})` : ''}; ${leadText}`;
  return claim('anchored', SRC.ours, statement, verdict, measured, {
    loggedSteps: steps.length,
    aboveSgdMean: strict.violations.length,
    aboveSgdMax: spread.violations.length,
    worstExcess: num(worst),
    l2oLead: num(lead),
    leadKept: num(kept),
  });
}

const anchoredTarget = (r: Results): Claim => targetOf(r, 'anchored-target', 'lgl2o-anchor', 'the anchored guard');
const anchoredPairedTarget = (r: Results): Claim => targetOf(r, 'anchored-paired-target', 'lgl2o-anchor-paired', 'the anchored guard with the paired test');

function targetOf(r: Results, id: ClaimId, entry: string, who: string): Claim {
  const statement = `Issue 5 target: ${who}'s mean is at or below SGDnm's at every reported step from 500 on, and at or below the better of L2O and SGDnm at steps 100 and 200`;
  const source = 'issue 5';
  const got = need(r, [entry, 'sgd', 'l2o']);
  if (!got.ok) return notMeasured(id, source, statement, got.missing);
  const [a, sgd, l2o] = got.runs as [RunResult[], RunResult[], RunResult[]];
  const reported = (r.setting.tableSteps ?? []).filter((s) => s <= r.horizon);
  const checks = reported.map((s) => {
    const target = s < 500 ? Math.min(meanAt(sgd, s), meanAt(l2o, s)) : meanAt(sgd, s);
    const m = meanAt(a, s);
    return { s, m, target, ok: m <= target };
  });
  const failed = checks.filter((c) => !c.ok);
  const verdict: Verdict = reported.length === 0 ? 'not measured' : failed.length === 0 ? 'supported' : 'contradicted';
  const measured = checks.map((c) => `${c.s}: ${fmt(c.m)} ${c.ok ? '≤' : '>'} ${fmt(c.target)}`).join('; ');
  return claim(
    id,
    source,
    statement,
    verdict,
    measured,
    Object.fromEntries(
      checks.flatMap((c) => [
        [`anchor@${c.s}`, num(c.m)],
        [`target@${c.s}`, num(c.target)],
      ]),
    ),
  );
}

const pct1 = (x: number): string => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : String(x));
const signedPct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}%` : x > 0 ? '+∞' : x < 0 ? '−∞' : 'n/a');
const PAIRED_SHARE = 0.01;
const LEAD_KEPT = 0.9;

/** Each guard of the setting whose fallback is an entry too, with that fallback's entry (issue 16). */
export const guardsWithFallback = (r: Results): { guard: Entry; fallback: Entry }[] =>
  r.setting.entries.flatMap((guard) => {
    const fallback = r.setting.entries.find((e) => e.id === guard.fallback);
    return fallback ? [{ guard, fallback }] : [];
  });

export interface LabelledComparison extends PairedComparison {
  readonly guardLabel: string;
  readonly fallbackLabel: string;
}

/** Each guard against its fallback's own run, seed by seed, where both have runs. */
export const pairedComparisons = (r: Results): LabelledComparison[] =>
  guardsWithFallback(r).flatMap(({ guard, fallback }) => {
    const g = r.runs.get(guard.id) ?? [];
    const f = r.runs.get(fallback.id) ?? [];
    if (!g.length || !f.length) return [];
    return [{ ...pairedComparison(g, f, r.runs.get('l2o') ?? [], r.grid, EARLY_END), guardLabel: guard.label, fallbackLabel: fallback.label }];
  });

/**
 * Issue 16: a guard against its fallback's own run of the same seed (same training batches),
 * with target 5's three tests: above it by more than 1% at no more than 1% of the
 * (seed, logged step) pairs, at or below it at the final step in every seed, and at least
 * 90% of L2O's early lead over the fallback kept (skipped where L2O has no lead).
 */
function pairedClaim(r: Results, guard: Entry, fallback: Entry): Claim {
  const id: ClaimId = 'paired-vs-fallback';
  const source = guard.id === 'lgl2o-anchor' ? 'issue 16, target 5' : 'issue 16';
  const statement =
    `Seed by seed against ${fallback.label}'s own run (same seed, same training batches), ${guard.label} is above it by more than ${pct(PAIRED_EXCESS)} ` +
    `at no more than ${pct(PAIRED_SHARE)} of the (seed, logged step) pairs, at or below it at the final step in every seed, ` +
    `and keeps at least ${pct(LEAD_KEPT)} of L2O's early lead over it (area up to step ${EARLY_END})`;
  const got = need(r, [guard.id, fallback.id]);
  if (!got.ok) return { ...notMeasured(id, source, statement, got.missing), entry: guard.id };
  const c = pairedComparison(got.runs[0]!, got.runs[1]!, r.runs.get('l2o') ?? [], r.grid, EARLY_END);
  if (c.pairs === 0 || c.final === null)
    return { ...claim(id, source, statement, 'not measured', 'no seed and logged step with runs of both'), entry: guard.id };
  const share = c.above / c.pairs;
  const last = c.steps.at(-1)!;
  const tests = [share <= PAIRED_SHARE, c.final.atOrBelow === c.seeds.length, ...(c.early?.kept != null ? [c.early.kept >= LEAD_KEPT] : [])];
  const passed = tests.filter(Boolean).length;
  const verdict: Verdict = passed === tests.length ? 'supported' : passed === 0 ? 'contradicted' : 'partly';
  const leadText =
    c.early === null
      ? 'no L2O runs for the early lead'
      : c.early.kept === null
        ? `L2O has no early lead over ${fallback.label} here`
        : `keeps ${pct(c.early.kept)} of L2O's early lead (area over ${c.early.steps} logged steps up to ${EARLY_END}, mean over seeds: ${fallback.label} − guard ${fmt(c.early.guardLead)}, ${fallback.label} − L2O ${fmt(c.early.l2oLead)})`;
  const measured =
    `${c.seeds.length} seeds × ${c.steps.length} logged steps: above by > ${pct(PAIRED_EXCESS)} at ${c.above} of ${c.pairs} pairs (${pct1(share)}); ` +
    `worst ${c.worst ? `${signedPct(c.worst.excess)} (seed ${c.worst.seed}, step ${c.worst.step})` : 'n/a'}; ` +
    `step ${c.final.step}: at or below in ${c.final.atOrBelow} of ${c.seeds.length} seeds, mean difference ${signedPct(last.rel.mean)} [95%: ${signedPct(last.rel.lo)}, ${signedPct(last.rel.hi)}]; ${leadText}`;
  return {
    ...claim(id, source, statement, verdict, measured, {
      seeds: c.seeds.length,
      loggedSteps: c.steps.length,
      pairs: c.pairs,
      abovePairs: c.above,
      aboveShare: num(share),
      worstExcess: num(c.worst?.excess ?? NaN),
      worstSeed: num(c.worst?.seed ?? NaN),
      worstStep: num(c.worst?.step ?? NaN),
      finalStep: c.final.step,
      finalAtOrBelow: c.final.atOrBelow,
      finalAllAtOrBelow: c.final.atOrBelow === c.seeds.length,
      finalRelDiff: num(last.rel.mean),
      finalRelLo: num(last.rel.lo),
      finalRelHi: num(last.rel.hi),
      finalDiff: num(last.diff.mean),
      l2oLead: num(c.early?.l2oLead ?? NaN),
      guardLead: num(c.early?.guardLead ?? NaN),
      earlyLeadKept: num(c.early?.kept ?? NaN),
    }),
    entry: guard.id,
  };
}

const pairedClaims = (r: Results): Claim[] => guardsWithFallback(r).map(({ guard, fallback }) => pairedClaim(r, guard, fallback));

const CLAIMS: Record<ClaimId, (r: Results) => Claim | Claim[]> = {
  'paired-vs-fallback': pairedClaims,
  'l2o-early': l2oEarly,
  'l2o-late': l2oLate,
  'lgl2o-best-of-both': (r) => bestOfBoth(r),
  'gl2o-early': gl2oEarly,
  'ood-tracks-fallback': oodTracks,
  'spirals-synergy': spiralsSynergy,
  'adam-fallback': adamFallback,
  'km-stability': kmStability,
  anchored,
  'anchored-target': anchoredTarget,
  'anchored-paired-target': anchoredPairedTarget,
};

/** The setting's claims, each with its measured verdict. */
export function evaluateClaims(r: Results): Claim[] {
  return r.setting.claims.flatMap((id) => CLAIMS[id](r));
}
