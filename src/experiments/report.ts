import type { TopLevelSpec } from 'vega-lite';
import { lineFigureSpec, type Series } from '../figures/lineFigure.js';
import { EARLY_END, evaluateClaims, fmt, LATE_FRACTION, pairedComparisons, type Claim, type LabelledComparison, type Results } from './claims.js';
import { PAIRED_EXCESS, type Interval } from './paired.js';
import { lossSeries, statsAt, useL2OSeries, type RunResult } from './curves.js';
import { evalSteps } from './grid.js';
import { tableSteps } from './settings.js';

/** How the experiment was run, for the report's header. */
export interface RunInfo {
  readonly seeds: readonly number[];
  readonly l2o: string;
  readonly trainSubset: number;
  readonly command: string;
  /** SHA-256 of the learned optimizer's checkpoint file. */
  readonly l2oSha256?: string;
}

export interface TableRow {
  readonly entry: string;
  readonly label: string;
  readonly seeds: number;
  /** Seeds whose run diverged (stopped on a non-finite loss). */
  readonly diverged: number;
  readonly at: ReadonlyArray<{ readonly step: number; readonly mean: number | null; readonly min: number | null; readonly max: number | null }>;
  /** Mean wall time of a run, and its ratio to plain LGL2O's (null without LGL2O runs). */
  readonly wallSeconds: number;
  readonly wallRatio: number | null;
  /** Mean CPU time of a run and its ratio to plain LGL2O's (null where not recorded for every run). */
  readonly cpuSeconds: number | null;
  readonly cpuRatio: number | null;
}

export interface Report {
  readonly setting: string;
  readonly task: string;
  readonly title: string;
  readonly source: string;
  readonly horizon: number;
  readonly seeds: readonly number[];
  readonly l2o: string;
  readonly l2oSha256?: string;
  readonly trainSubset: number;
  readonly command: string;
  readonly table: readonly TableRow[];
  readonly claims: readonly Claim[];
  /** Each guard against its fallback's own run, seed by seed, at every common logged step (issue 16). */
  readonly paired: readonly LabelledComparison[];
  /** The steps of the loss table, at which the paired table shows its differences. */
  readonly tableSteps: readonly number[];
}

const finiteOrNull = (x: number | undefined): number | null => (x !== undefined && Number.isFinite(x) ? x : null);
const meanOf = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Training loss of every entry at the table's steps, with wall times. */
export function lossTable(r: Results): TableRow[] {
  const steps = tableSteps(r.setting, r.horizon);
  const wall = (id: string) => {
    const runs = r.runs.get(id) ?? [];
    return runs.length ? meanOf(runs.map((x) => x.wallMs)) / 1000 : NaN;
  };
  const base = wall('lgl2o');
  const cpu = (id: string) => {
    const runs = r.runs.get(id) ?? [];
    return runs.length && runs.every((x) => x.cpuMs !== undefined) ? meanOf(runs.map((x) => x.cpuMs!)) / 1000 : NaN;
  };
  const cpuBase = cpu('lgl2o');
  return r.setting.entries
    .filter((e) => (r.runs.get(e.id) ?? []).length > 0)
    .map((e) => {
      const runs = r.runs.get(e.id)!;
      return {
        entry: e.id,
        label: e.label,
        seeds: runs.length,
        diverged: runs.filter((x) => x.status === 'diverged').length,
        at: steps.map((step) => {
          const s = statsAt(runs, step);
          return { step, mean: finiteOrNull(s?.mean), min: finiteOrNull(s?.min), max: finiteOrNull(s?.max) };
        }),
        wallSeconds: wall(e.id),
        wallRatio: Number.isFinite(base) ? wall(e.id) / base : null,
        cpuSeconds: finiteOrNull(cpu(e.id)),
        cpuRatio: finiteOrNull(cpu(e.id) / cpuBase),
      };
    });
}

export function buildReport(r: Results, info: RunInfo): Report {
  return {
    setting: r.setting.id,
    task: r.setting.task,
    title: r.setting.title,
    source: r.setting.source,
    horizon: r.horizon,
    seeds: info.seeds,
    l2o: info.l2o,
    ...(info.l2oSha256 ? { l2oSha256: info.l2oSha256 } : {}),
    trainSubset: info.trainSubset,
    command: info.command,
    table: lossTable(r),
    claims: evaluateClaims(r),
    paired: pairedComparisons(r),
    tableSteps: tableSteps(r.setting, r.horizon),
  };
}

/** Whether a log scale helps: the plotted means span more than a factor `ratio`. */
function spansDecades(series: readonly Series[], ratio = 5): boolean {
  const ys = series.flatMap((s) => s.points.map((p) => p.mean)).filter((y) => Number.isFinite(y) && y > 0);
  return ys.length > 0 && Math.max(...ys) / Math.min(...ys) > ratio;
}

/** A figure: its file name (without extension) and Vega-Lite spec. */
export interface FigureSpec {
  readonly name: string;
  readonly spec: TopLevelSpec;
}

const entriesWithRuns = (r: Results) => r.setting.entries.filter((e) => (r.runs.get(e.id) ?? []).length > 0);

/**
 * Loss lines at `targets` and use_l2o tracks in coarser intervals (10 per decade, and 1/40 of
 * the horizon late: tens of rounds each, so the seeds' band says something), named by the
 * entries' labels (a track reuses its line's color).
 */
function seriesOf(r: Results, targets: readonly number[]): { loss: Series[]; track: Series[] } {
  const withRuns = entriesWithRuns(r);
  const first = targets[0] ?? 1;
  const bins = evalSteps(r.horizon, { perDecade: 10, linear: 40 });
  const track = (label: string, runs: readonly RunResult[]): Series => {
    const s = useL2OSeries(label, runs, bins);
    return { ...s, points: s.points.filter((p) => p.x >= first) };
  };
  return {
    loss: withRuns.map((e) => lossSeries(e.label, r.runs.get(e.id)!, targets)),
    track: withRuns.filter((e) => e.guard).map((e) => track(e.label, r.runs.get(e.id)!)),
  };
}

/** "L2O: 2/5 seeds diverged", for the figure's title. */
function divergenceNote(r: Results): string {
  const notes = entriesWithRuns(r).flatMap((e) => {
    const runs = r.runs.get(e.id)!;
    const d = runs.filter((x) => x.status === 'diverged').length;
    return d > 0 ? [`${e.label}: ${d}/${runs.length} seeds diverged`] : [];
  });
  return notes.length ? ` (${notes.join(', ')})` : '';
}

function xDomain(series: readonly Series[]): [number, number] | undefined {
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  return xs.length ? [Math.min(...xs), Math.max(...xs)] : undefined;
}

/** The plotted data (mean, min, max per logged step; use_l2o per interval) for DIR/curves.json. */
export function curvesData(r: Results): { loss: Series[]; useL2O: Series[] } {
  const { loss, track } = seriesOf(r, r.grid);
  return { loss, useL2O: track };
}

/**
 * The paper-style figures: training loss against steps (log step axis; log loss axis when the
 * curves span more than a factor 5), mean over seeds with a min–max band, and the guards'
 * use_l2o under it. The k = m sweep adds a linear view of the last 20% of the steps.
 */
export function figureSpecs(r: Results, seeds: number): FigureSpec[] {
  const { loss, track } = seriesOf(r, r.grid);
  const title = `${r.setting.title}: training loss, ${seeds} seeds, mean and min-max${divergenceNote(r)}`;
  const yTitle = 'training loss (fixed training subset)';
  const colors = entriesWithRuns(r).map((e) => ({ name: e.label, color: e.color }));
  const domain = xDomain(loss);
  const common = { xTitle: 'optimization step', yTitle, colors, ...(domain ? { xDomain: domain } : {}) };
  const main = lineFigureSpec(
    { ...common, title, series: loss, logX: true, logY: spansDecades(loss) },
    track.length ? { title: 'use_l2o', series: track } : undefined,
  );
  const figures: FigureSpec[] = [{ name: r.setting.id, spec: main }];
  if (r.setting.id === 'km-sweep') {
    const late = r.grid.filter((s) => s >= 0.8 * r.horizon);
    const lateSeries = seriesOf(r, late);
    const lateLoss = lateSeries.loss.filter((s) => s.name !== 'L2O');
    const lateDomain = xDomain(lateLoss);
    figures.push({
      name: `${r.setting.id}-late`,
      spec: lineFigureSpec(
        { ...common, ...(lateDomain ? { xDomain: lateDomain } : {}), title: `${r.setting.title}: last 20% of the steps`, series: lateLoss, logX: false },
        { title: 'use_l2o', series: lateSeries.track },
      ),
    });
  }
  return figures;
}

const cell = (a: TableRow['at'][number]): string => (a.mean === null ? '∞ / n/a' : `${fmt(a.mean)} [${fmt(a.min ?? NaN)}, ${fmt(a.max ?? NaN)}]`);
const esc = (s: string) => s.replace(/\|/g, '\\|');

/** The claims table as Markdown. */
export function claimsTable(claims: readonly Claim[]): string {
  const lines = ['| claim | source | measured | verdict |', '| --- | --- | --- | --- |'];
  for (const c of claims) lines.push(`| ${esc(c.statement)} | ${c.source} | ${esc(c.measured)} | **${c.verdict}** |`);
  return lines.join('\n');
}

/** The loss table as Markdown. */
export function lossTableMarkdown(rows: readonly TableRow[]): string {
  if (rows.length === 0) return '(no finished runs)';
  const steps = rows[0]!.at.map((a) => a.step);
  const ratio = (x: number | null) => (x === null ? '–' : x.toFixed(2));
  const head = `| optimizer | seeds | ${steps.map((s) => `step ${s}`).join(' | ')} | wall per run | × LGL2O | CPU per run | × LGL2O |`;
  const sep = `| --- | --- | ${steps.map(() => '---').join(' | ')} | --- | --- | --- | --- |`;
  const body = rows.map(
    (r) =>
      `| ${r.label} | ${r.seeds}${r.diverged ? ` (${r.diverged} diverged)` : ''} | ${r.at.map(cell).join(' | ')} | ${r.wallSeconds.toFixed(0)} s | ${ratio(r.wallRatio)} | ${r.cpuSeconds === null ? '–' : `${r.cpuSeconds.toFixed(0)} s`} | ${ratio(r.cpuRatio)} |`,
  );
  return [head, sep, ...body].join('\n');
}

const signedPct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}%` : x > 0 ? '+∞' : x < 0 ? '−∞' : 'n/a');
const intervalText = (i: Interval): string => `${signedPct(i.mean)} [${signedPct(i.lo)}, ${signedPct(i.hi)}]`;

/** Each guard against its fallback's own run, seed by seed, as two Markdown tables (or '' when there is none). */
export function pairedMarkdown(rows: readonly LabelledComparison[], steps: readonly number[]): string {
  if (rows.length === 0) return '';
  const summary = [
    `| guard | fallback | seeds | (seed, step) pairs above by > ${(100 * PAIRED_EXCESS).toFixed(0)}% | worst excess (seed, step) | final step: at or below | L2O's early lead kept |`,
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((c) => {
      const share = c.pairs ? `${c.above} of ${c.pairs} (${((100 * c.above) / c.pairs).toFixed(1)}%)` : '–';
      const worst = c.worst ? `${signedPct(c.worst.excess)} (${c.worst.seed}, ${c.worst.step})` : '–';
      const final = c.final ? `${c.final.atOrBelow} of ${c.seeds.length} seeds (step ${c.final.step})` : '–';
      const kept = c.early === null ? 'no L2O runs' : c.early.kept === null ? 'no lead' : `${(100 * c.early.kept).toFixed(0)}%`;
      return `| ${c.guardLabel} | ${c.fallbackLabel} | ${c.seeds.length} | ${share} | ${worst} | ${final} | ${kept} |`;
    }),
  ];
  const cellAt = (c: LabelledComparison, step: number): string => {
    const p = c.steps.find((x) => x.step >= step);
    return p === undefined ? '–' : `${intervalText(p.rel)}${p.step !== step ? ` (at ${p.step})` : ''}`;
  };
  const perStep = [
    `| guard − fallback | ${steps.map((s) => `step ${s}`).join(' | ')} |`,
    `| --- | ${steps.map(() => '---').join(' | ')} |`,
    ...rows.map((c) => `| ${c.guardLabel} | ${steps.map((s) => cellAt(c, s)).join(' | ')} |`),
  ];
  return [
    summary.join('\n'),
    '',
    `Mean over seeds of guard / fallback − 1 (the guard's loss relative to its fallback's run of the same seed) with its 95% t interval; ` +
      `every logged step in claims.json (\`paired\`: relative and absolute). Early lead: the area between the fallback's and the guard's mean curves ` +
      `(trapezoids over the logged steps up to ${EARLY_END} where all three evaluated), over the same area for L2O.`,
    '',
    perStep.join('\n'),
  ].join('\n');
}

/** The whole report of one experiment as Markdown (DIR/claims.md). */
export function reportMarkdown(rep: Report, figures: readonly string[]): string {
  return [
    `# ${rep.title} (\`${rep.setting}\`)`,
    '',
    `Source: ${rep.source}. Task \`${rep.task}\`, horizon ${rep.horizon} steps, seeds ${rep.seeds.join(', ')}, learned optimizer \`${rep.l2o}\`${rep.l2oSha256 ? ` (sha256 ${rep.l2oSha256.slice(0, 12)}…)` : ''}.`,
    '',
    `Command: \`${rep.command}\``,
    '',
    `Training loss: the mean loss on a fixed subset of ${rep.trainSubset} training examples (evenly spaced over the training split, the same for every optimizer), ` +
      `evaluated at log-spaced steps and at every 1/200 of the horizon. Loss guards evaluate at the end of their first round at or after each scheduled step. ` +
      `A run that diverged counts as ∞ from then on.`,
    '',
    ...figures.map((f) => `![${f}](${f}.png)`),
    '',
    '## Claims',
    '',
    claimsTable(rep.claims),
    '',
    `Verdicts: *supported*: the measurement agrees; *partly*: one half of the claim holds, or exceptions at under 10% of the logged steps; ` +
      `*contradicted*: it does not hold; *not applicable*: the premise does not hold here. "Late" means the last ${(100 * LATE_FRACTION).toFixed(0)}% of the steps.`,
    '',
    ...(rep.paired.length
      ? [
          '## Each guard against its fallback, seed by seed',
          '',
          "A guard's training batches are those its fallback's stand-alone run of the same seed trains on, so the two runs of a seed are compared directly.",
          '',
          pairedMarkdown(rep.paired, rep.tableSteps),
          '',
        ]
      : []),
    '## Training loss, mean [min, max] over seeds',
    '',
    lossTableMarkdown(rep.table),
    '',
    "Wall times are the runs' own elapsed time, two runs sharing 2 cores with each other and with other work on the machine; " +
      "CPU times (user + system of the run's processes, where recorded) are the better measure of cost there. Both include loading the data and the training-loss evaluations.",
    '',
  ].join('\n');
}
