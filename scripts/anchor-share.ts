/**
 * Where a guard's kept point came from: for each seed, the share of rounds the learned candidate
 * won, the winners of the rounds in the last 10% of the steps, the winner of the last round, and the training loss there (when
 * the last winner is the anchor, that loss is the anchor run's own: the fallback's run from x0
 * on the guard's training batches).
 *
 *   npx tsx scripts/anchor-share.ts docs/results/guards lgl2o-anchor lgl2o-anchor-paired
 *
 * `--after STEP` counts only the rounds ending after STEP in the learned candidate's share.
 * `--ranges 50,100,200,500` prints instead, per entry and range of steps (rounds ending in (0, 50],
 * (50, 100], ...), the share of the rounds over all seeds that each candidate won: when in the run the
 * guard stops taking the learned optimizer's point.
 * `--transitions` prints instead, per entry and over the rounds ending after `--after`, the share the
 * learned candidate won given the previous round's winner: whether losing a round (the learned
 * optimizer restarted cold at the kept point) makes it lose the next.
 * ENTRY is an experiment's entry id or a sweep's setting; the runs/ folders are not committed (rerun the report's command).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({
  options: { after: { type: 'string', default: '0' }, ranges: { type: 'string' }, transitions: { type: 'boolean', default: false } },
  allowPositionals: true,
});
const [dir, ...entries] = positionals;
if (dir === undefined || entries.length === 0) throw new Error('usage: scripts/anchor-share.ts [--after STEP] EXPERIMENT_DIR ENTRY...');
const after = Number(opts.after);

interface Event {
  readonly step: number;
  readonly winner?: string;
  readonly trainLoss?: number;
}

const readEvents = (path: string): Event[] =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Event);

const runsOf = (entry: string) => readdirSync(join(dir, 'runs', entry)).sort();
const percent = (part: number, whole: number) => `${((100 * part) / whole).toFixed(0)}%`;

if (opts.ranges !== undefined) {
  const ends = opts.ranges.split(',').map(Number);
  if (ends.some((e, i) => !(Number.isInteger(e) && e > (ends[i - 1] ?? 0)))) throw new Error(`--ranges ${opts.ranges}: expected increasing whole steps`);
  console.log('| entry | rounds ending in | rounds | learned | fallback | anchor |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const entry of entries) {
    const rounds = runsOf(entry).flatMap((seed) => readEvents(join(dir, 'runs', entry, seed, 'events.ndjson')).filter((e) => e.winner !== undefined));
    ends.forEach((end, i) => {
      const start = ends[i - 1] ?? 0;
      const inRange = rounds.filter((e) => e.step > start && e.step <= end);
      const won = (w: string) => percent(inRange.filter((e) => e.winner === w).length, inRange.length);
      console.log(`| ${entry} | (${start}, ${end}] | ${inRange.length} | ${won('learned')} | ${won('fallback')} | ${won('anchor')} |`);
    });
  }
  process.exit(0);
}

if (opts.transitions) {
  console.log(`| entry | previous round's winner | rounds after step ${after} | learned candidate won |`);
  console.log('| --- | --- | ---: | ---: |');
  for (const entry of entries) {
    const pairs = runsOf(entry).flatMap((seed) => {
      const rounds = readEvents(join(dir, 'runs', entry, seed, 'events.ndjson')).filter((e) => e.winner !== undefined);
      return rounds.slice(1).flatMap((e, i) => (e.step > after ? [{ previous: rounds[i]!.winner!, won: e.winner === 'learned' }] : []));
    });
    for (const previous of ['learned', 'fallback', 'anchor']) {
      const given = pairs.filter((p) => p.previous === previous);
      if (given.length > 0) console.log(`| ${entry} | ${previous} | ${given.length} | ${percent(given.filter((p) => p.won).length, given.length)} |`);
    }
  }
  process.exit(0);
}

console.log(
  `| entry | seed | rounds${after > 0 ? ` after step ${after}` : ''} the learned candidate won | last 10%: anchor / learned / fallback | last round | training loss at the end |`,
);
console.log('| --- | --- | ---: | --- | --- | ---: |');
for (const entry of entries) {
  for (const seed of runsOf(entry)) {
    const events = readEvents(join(dir, 'runs', entry, seed, 'events.ndjson'));
    const horizon = events.at(-1)!.step;
    const rounds = events.filter((e) => e.winner !== undefined);
    const counted = rounds.filter((e) => e.step > after);
    const late = rounds.filter((e) => e.step > 0.9 * horizon);
    const count = (w: string) => late.filter((e) => e.winner === w).length;
    const lastLoss = events.filter((e) => e.trainLoss !== undefined).at(-1)?.trainLoss;
    const learnedShare = counted.filter((e) => e.winner === 'learned').length / counted.length;
    console.log(
      `| ${entry} | ${seed} | ${(100 * learnedShare).toFixed(1)}% | ${count('anchor')} / ${count('learned')} / ${count('fallback')} | ${rounds.at(-1)?.winner} | ${lastLoss?.toFixed(4)} |`,
    );
  }
}
