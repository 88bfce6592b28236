/**
 * The learned optimizer against SGDnm and Adam in distribution (mlp-mnist by default):
 * training loss on a fixed training subset at given steps, over several seeds, as a table.
 *
 *   npx tsx scripts/compare-l2o.ts --checkpoint lstm --seeds 5 \
 *     --steps 100,200,500,1000 --l2o-steps 2000,5000,10000,20000 --out results/compare-l2o.json
 *
 * --checkpoint takes what `--l2o` takes: a shipped name (lstm, feature-mlp, feature-mlp-guard, default), a path or random:SEED.
 *
 * Seed s: the task's initial parameters from seed s and the batch order from s + 1 000 003,
 * as `lgl2o run --seed s` uses them, so every optimizer sees the same start and batches.
 */
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { BatchSampler } from '../src/data/sampler.js';
import { learnedOptimizer } from '../src/l2o/learned.js';
import { resolveCheckpoint } from '../src/l2o/weightsFile.js';
import { adam } from '../src/optim/adam.js';
import type { AnyOptimizer } from '../src/optim/optimizer.js';
import { erase } from '../src/optim/optimizer.js';
import { inversePower } from '../src/optim/schedule.js';
import { sgd } from '../src/optim/sgd.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { loadTask } from '../src/tasks/index.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';
import { evaluateOn, trainSubset } from '../src/runs/trainEvaluator.js';
import { BATCH_SEED_OFFSET } from '../jobs/prepareJob.js';

const { values: args } = parseArgs({
  options: {
    task: { type: 'string', default: 'mlp-mnist' },
    checkpoint: { type: 'string', default: 'default' },
    seeds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '100,200,500,1000' },
    'l2o-steps': { type: 'string', default: '' },
    subset: { type: 'string', default: '10000' },
    'sgd-lr': { type: 'string', default: '3.0' },
    'sgd-tau': { type: 'string', default: '50000' },
    'adam-lr': { type: 'string', default: '0.001' },
    only: { type: 'string', default: 'l2o,sgd,adam' },
    out: { type: 'string' },
  },
});

const list = (s: string) =>
  s
    .split(',')
    .filter((x) => x.trim() !== '')
    .map(Number);
const steps = list(args.steps);
const l2oSteps = [...steps, ...list(args['l2o-steps'])];
const seeds = Number(args.seeds);

await selectBackend(process.env['LGL2O_BACKEND'] ?? 'wasm');
const loaded = loadTask(args.task, { seed: 0 });
if (E.isLeft(loaded)) throw loaded.left;
const { objective, splits } = loaded.right;
const subset = trainSubset(splits.train, Number(args.subset));
const ck = resolveCheckpoint(args.checkpoint);
if (E.isLeft(ck)) throw ck.left;

const optimizers: Record<string, { make: () => AnyOptimizer; at: number[] }> = {
  l2o: { make: () => learnedOptimizer(ck.right), at: l2oSteps },
  sgd: { make: () => erase(sgd({ lr: inversePower(Number(args['sgd-lr']), Number(args['sgd-tau']), 1.5) })), at: steps },
  adam: { make: () => erase(adam({ lr: Number(args['adam-lr']) })), at: steps },
};

/** Training loss on the subset at each of `at` (steps done), for one optimizer and seed. */
function curve(opt: AnyOptimizer, seed: number, at: readonly number[]): number[] {
  const sampler = new BatchSampler(splits.train, 128, seed + BATCH_SEED_OFFSET);
  let x = objective.init(Rng.seeded(seed));
  let state = opt.init(x);
  const out: number[] = [];
  const last = Math.max(...at);
  for (let t = 0; t <= last; t++) {
    if (at.includes(t)) out.push(evaluateOn(objective, x, subset).trainLoss);
    if (t === last) break;
    const batch = toTensorBatch([sampler.next()]);
    const { loss, grad } = objective.lossAndGrad(x, batch);
    disposeTensorBatch(batch);
    loss.dispose();
    const [x1, s1] = opt.step(x, grad, state);
    disposeAll([grad, x, state]);
    x = x1;
    state = s1;
  }
  disposeAll([x, state]);
  return out;
}

const results: Record<string, { at: number[]; losses: number[][] }> = {};
for (const name of args.only.split(',')) {
  const o = optimizers[name];
  if (o === undefined) throw new Error(`--only: unknown optimizer ${name}`);
  const at = [...new Set(o.at)].sort((a, b) => a - b);
  results[name] = { at, losses: [] };
  for (let s = 0; s < seeds; s++) {
    const t0 = performance.now();
    results[name].losses.push(curve(o.make(), s, at));
    process.stderr.write(`${name} seed ${s}: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
}

const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(4) : String(v));
const allSteps = [...new Set(Object.values(results).flatMap((r) => r.at))].sort((a, b) => a - b);
const names = Object.keys(results);
const lines = [`| step | ${names.map((n) => `${n} mean (min–max)`).join(' | ')} |`, `| --- | ${names.map(() => '---').join(' | ')} |`];
for (const step of allSteps) {
  const cells = names.map((n) => {
    const r = results[n]!;
    const i = r.at.indexOf(step);
    if (i < 0) return '';
    const vs = r.losses.map((l) => l[i]!);
    const mean = vs.reduce((a, b) => a + b, 0) / vs.length;
    return `${fmt(mean)} (${fmt(Math.min(...vs))}–${fmt(Math.max(...vs))})`;
  });
  lines.push(`| ${step} | ${cells.join(' | ')} |`);
}
const table = lines.join('\n');
process.stdout.write(`${table}\n`);
if (args.out)
  writeFileSync(
    args.out,
    `${JSON.stringify({ task: args.task, checkpoint: args.checkpoint, seeds, subset: Number(args.subset), backend: tf.getBackend(), results, table }, null, 1)}\n`,
  );
