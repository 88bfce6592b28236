/**
 * Where a guard's kept point came from: for each seed, the share of rounds the learned candidate
 * won, the winners of the rounds in the last 10% of the steps, the winner of the last round, and the training loss there (when
 * the last winner is the anchor, that loss is the anchor run's own: the fallback's run from x0
 * on the guard's training batches).
 *
 *   npx tsx scripts/anchor-share.ts docs/results/guards lgl2o-anchor lgl2o-anchor-paired
 *
 * `--after STEP` counts only the rounds ending after STEP in the learned candidate's share.
 * ENTRY is an experiment's entry id or a sweep's setting; the runs/ folders are not committed (rerun the report's command).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({ options: { after: { type: 'string', default: '0' } }, allowPositionals: true });
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

console.log(
  `| entry | seed | rounds${after > 0 ? ` after step ${after}` : ''} the learned candidate won | last 10%: anchor / learned / fallback | last round | training loss at the end |`,
);
console.log('| --- | --- | ---: | --- | --- | ---: |');
for (const entry of entries) {
  const seeds = readdirSync(join(dir, 'runs', entry)).sort();
  for (const seed of seeds) {
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
