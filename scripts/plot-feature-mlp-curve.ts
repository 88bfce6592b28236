/**
 * The meta-training curve of a feature-MLP checkpoint as an SVG: its stages in order (gradient
 * meta-training runs of scripts/meta-train-feature-mlp.ts, evolution-strategies runs of
 * scripts/es-feature-mlp.ts), against meta-training CPU-seconds. Plotted as losses (exp of the
 * mean log loss): the held-out evaluation at each evaluation (training and validation examples)
 * and the episodes' own mean (gradient stages) or the antithetic pairs' scores (ES stages), one
 * line per stage: stages may score different things (an ES stage aimed at the guard scores the
 * guarded run, one with `--alone-at` the sum of two mean log losses), so their levels differ.
 *
 *   npx tsx scripts/plot-feature-mlp-curve.ts --stage results/F5 --stage results/E4:20 --out checkpoints/feature-mlp.svg
 *
 * A stage is DIR or DIR:N (up to episode or update N: where the next stage took its weights).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { lineFigureSpec, type Series } from '../src/figures/lineFigure.js';
import { renderSvg } from '../jobs/renderFigure.js';

const { values: a } = parseArgs({ options: { stage: { type: 'string', multiple: true }, out: { type: 'string' }, title: { type: 'string' } } });
if (a.stage === undefined || a.out === undefined) throw new Error('usage: --stage DIR[:N] ... --out FILE.svg');

interface Line {
  kind: 'episode' | 'eval' | 'update';
  episode?: number;
  update?: number;
  meanLogLoss?: number;
  scores?: number[];
  score?: Record<string, number>;
  wallS: number;
}
type Point = { x: number; mean: number; min: number; max: number };
const progress: { stage: string; points: Point[] }[] = [];
const evals: Record<string, Point[]> = { train: [], validation: [] };
let offset = 0;
for (const stage of a.stage) {
  const colon = stage.lastIndexOf(':');
  const [dir, until] = colon > 0 && /^\d+$/.test(stage.slice(colon + 1)) ? [stage.slice(0, colon), Number(stage.slice(colon + 1))] : [stage, Infinity];
  const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => (l.episode ?? l.update ?? 0) <= until);
  let last = 0;
  const points: Point[] = [];
  progress.push({ stage: basename(dir), points });
  for (const l of lines) {
    const x = offset + l.wallS;
    last = Math.max(last, l.wallS);
    if (l.kind === 'episode' && l.meanLogLoss !== undefined && Number.isFinite(l.meanLogLoss)) {
      const v = Math.exp(l.meanLogLoss);
      points.push({ x, mean: v, min: v, max: v });
    } else if (l.kind === 'update' && l.scores !== undefined) {
      const v = l.scores.filter(Number.isFinite).map(Math.exp);
      if (v.length > 0) points.push({ x, mean: v.reduce((s, y) => s + y, 0) / v.length, min: Math.min(...v), max: Math.max(...v) });
    } else if (l.kind === 'eval' && l.score !== undefined) {
      for (const name of Object.keys(evals)) {
        const s = l.score[name];
        if (s !== undefined && Number.isFinite(s)) evals[name]!.push({ x, mean: Math.exp(s), min: Math.exp(s), max: Math.exp(s) });
      }
    }
  }
  offset += last;
}
const series: Series[] = [
  ...progress.map(({ stage, points }) => ({ name: `${stage}: episodes`, points })),
  { name: 'held-out, train', points: evals['train']! },
  { name: 'held-out, validation', points: evals['validation']! },
];
const spec = lineFigureSpec({
  title: a.title ?? 'feature-MLP meta-training',
  xTitle: 'meta-training seconds (all stages, one after another)',
  yTitle: 'exp(score): geometric mean loss over the scored steps',
  series,
  logY: true,
});
writeFileSync(a.out, await renderSvg(spec));
process.stderr.write(`wrote ${a.out}\n`);
