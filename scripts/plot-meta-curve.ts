/**
 * The meta-training curve of a run directory as an SVG (vega + vega-lite, headless):
 * the meta-loss per loss term, as the mean and min–max over blocks of meta-steps, and the
 * held-out evaluation loss at each evaluation.
 *
 *   npx tsx scripts/plot-meta-curve.ts --dir results/meta-A --out checkpoints/mlp-mnist.svg [--block 50]
 *
 * A run started with --init from another run's best.json at meta-step N: --before OTHER_DIR:N
 * draws that run up to N first, and this one after it (repeat --before for a longer chain).
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeWith } from '../src/codec/decode.js';
import { lineFigureSpec, type Series } from '../src/figures/lineFigure.js';
import { renderSvg } from '../jobs/renderFigure.js';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string' },
    out: { type: 'string' },
    block: { type: 'string', default: '50' },
    title: { type: 'string' },
    until: { type: 'string' },
    before: { type: 'string', multiple: true },
  },
});
if (args.dir === undefined || args.out === undefined) throw new Error('usage: --dir RUN_DIR --out FILE.svg [--block N] [--title T] [--until META_STEP]');

const Line = t.intersection([t.type({ metaStep: t.number, meanLoss: t.number }), t.partial({ evalLoss: t.number })]);

function readLog(dir: string, until: number) {
  const path = join(dir, 'meta.ndjson');
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      const d = decodeWith(Line, JSON.parse(l), `${path}:${i + 1}`);
      if (E.isLeft(d)) throw d.left;
      return d.right;
    })
    .filter((e) => e.metaStep <= until);
}

const chain = [
  ...(args.before ?? []).map((b) => ({ dir: b.slice(0, b.lastIndexOf(':')), until: Number(b.slice(b.lastIndexOf(':') + 1)) })),
  { dir: args.dir, until: args.until === undefined ? Infinity : Number(args.until) },
];
let offset = 0;
const events = chain.flatMap(({ dir, until }) => {
  const part = readLog(dir, until).map((e) => ({ ...e, metaStep: e.metaStep + offset }));
  offset += until;
  return part;
});

const block = Number(args.block);
const blocks = new Map<number, number[]>();
for (const e of events) {
  const k = Math.ceil(e.metaStep / block) * block;
  blocks.set(k, [...(blocks.get(k) ?? []), e.meanLoss]);
}
const metaSeries: Series = {
  name: 'meta-loss per term',
  points: [...blocks.entries()].map(([x, v]) => ({ x, mean: v.reduce((a, b) => a + b, 0) / v.length, min: Math.min(...v), max: Math.max(...v) })),
};
const evalSeries: Series = {
  name: 'evaluation loss',
  points: events
    .filter((e) => e.evalLoss !== undefined && Number.isFinite(e.evalLoss))
    .map((e) => ({ x: e.metaStep, mean: e.evalLoss!, min: e.evalLoss!, max: e.evalLoss! })),
};
const spec = lineFigureSpec({
  title: args.title ?? `meta-training: ${args.dir}`,
  xTitle: `meta-step (meta-loss: mean and min–max over blocks of ${block})`,
  yTitle: 'loss',
  series: [metaSeries, evalSeries],
  logY: true,
});
writeFileSync(args.out, await renderSvg(spec));
process.stderr.write(`wrote ${args.out} (${events.length} meta-steps)\n`);
