/**
 * The cost of drawing a loss guard's comparison batches from their own sampler (issue 16):
 * the anchored guard on mlp-mnist through the train operator, with the comparison source
 * (as runs now do) and without it (all k + m batches from the one training stream, as before),
 * alternated in one process. Prints CPU seconds (user + system) per run and their ratio.
 * `vite-node bench/comparisonSource.ts [steps] [reps]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lastValueFrom } from 'rxjs';
import { buildOptimizer } from '../src/config/build.js';
import { BatchSampler } from '../src/data/sampler.js';
import { selectBackend } from '../src/tensor/backend.js';
import { loadTask } from '../src/tasks/index.js';
import { batches$ } from '../streams/source.js';
import { train } from '../streams/train.js';

async function main(): Promise<void> {
  const [stepsArg = '300', repsArg = '3'] = process.argv.slice(2);
  const steps = Number(stepsArg);
  await selectBackend();
  const loaded = loadTask('mlp-mnist', { seed: 1 });
  if (E.isLeft(loaded)) throw loaded.left;
  const { task, splits, objective } = loaded.right;
  const built = buildOptimizer({ type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'default' }, anchor: true }, task.defaults);
  if (E.isLeft(built)) throw built.left;
  const optimizer = built.right;

  const cpuSeconds = async (withComparison: boolean): Promise<number> => {
    const compare = new BatchSampler(splits.train, 128, 2);
    const before = process.cpuUsage();
    const op = train({ objective, optimizer, steps, seed: 1, ...(withComparison ? { comparison: () => compare.next() } : {}) });
    await lastValueFrom(batches$(splits.train, { seed: 1 }).pipe(op));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1e6;
  };
  await cpuSeconds(true); // warm-up
  const rows: [number, number][] = [];
  for (let r = 0; r < Number(repsArg); r++) rows.push([await cpuSeconds(false), await cpuSeconds(true)]);
  console.log(`anchored LGL2O, mlp-mnist, ${steps} steps per run: CPU seconds`);
  console.log('| rep | one stream | comparison source | ratio |\n| --- | --- | --- | --- |');
  rows.forEach(([a, b], i) => console.log(`| ${i + 1} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b / a).toFixed(3)} |`));
  const sum = (i: 0 | 1) => rows.reduce((s, r) => s + r[i], 0);
  console.log(`| all | ${sum(0).toFixed(2)} | ${sum(1).toFixed(2)} | ${(sum(1) / sum(0)).toFixed(3)} |`);
}

void main();
