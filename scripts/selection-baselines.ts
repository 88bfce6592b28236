/**
 * Hand-designed optimizers on the held-out protocol that selects feature-MLP checkpoints
 * (scripts/meta-train-feature-mlp.ts, scripts/es-feature-mlp.ts): 2 episodes (seeds 900 001–2)
 * of 3,000 steps on mlp-mnist, the training loss on 2,000 training examples beside the
 * experiments' subset at steps 50 … 3,000, and the score (mean log loss; lower is better):
 *
 *   npx tsx scripts/selection-baselines.ts                       # SGDnm, Adam 0.01, Adam 0.02
 *   npx tsx scripts/selection-baselines.ts --grid                # + Adam with lr0 / (1 + n/decay)^p, a grid
 *   npx tsx scripts/selection-baselines.ts --checkpoint A.json --checkpoint B.json   # + learned optimizers
 */
import * as E from 'fp-ts/lib/Either.js';
import { parseArgs } from 'node:util';
import { BatchSampler, BATCH_SEED_OFFSET } from '../src/data/sampler.js';
import { learnedOptimizer } from '../src/l2o/learned.js';
import { loadCheckpoint } from '../src/l2o/weightsFile.js';
import { selectionSubset } from '../src/meta/featureMlpTrainer.js';
import { adam } from '../src/optim/adam.js';
import { erase, type AnyOptimizer } from '../src/optim/optimizer.js';
import { inversePower } from '../src/optim/schedule.js';
import { sgd } from '../src/optim/sgd.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { evaluate } from '../src/optimizee/evaluate.js';
import { loadTask } from '../src/tasks/index.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const { values: a } = parseArgs({ options: { grid: { type: 'boolean', default: false }, checkpoint: { type: 'string', multiple: true, default: [] } } });
await selectBackend('wasm');
const loaded = loadTask('mlp-mnist', { seed: 0 });
if (E.isLeft(loaded)) throw loaded.left;
const { objective, splits } = loaded.right;
const evalSet = selectionSubset(splits.train);
const at = [50, 100, 200, 500, 1000, 2000, 3000];

function losses(make: () => AnyOptimizer): number[] {
  const sums = at.map(() => 0);
  for (let e = 0; e < 2; e++) {
    const opt = make();
    const sampler = new BatchSampler(splits.train, 128, 900_001 + e + BATCH_SEED_OFFSET);
    let x = objective.init(Rng.seeded(900_001 + e));
    let state = opt.init(x);
    for (let t = 1; t <= 3000; t++) {
      const batch = toTensorBatch([sampler.next()]);
      const { loss, grad } = objective.lossAndGrad(x, batch);
      disposeTensorBatch(batch);
      loss.dispose();
      const [x1, s1] = opt.step(x, grad, state);
      disposeAll([grad, x, state]);
      [x, state] = [x1, s1];
      const k = at.indexOf(t);
      if (k >= 0) sums[k]! += evaluate(objective, x, evalSet).loss;
    }
    disposeAll([x, state]);
  }
  return sums.map((s) => s / 2);
}

const candidates: Array<[string, () => AnyOptimizer]> = [
  ['SGDnm η0 3, τ 50 000', () => erase(sgd({ lr: inversePower(3, 50_000, 1.5) }))],
  ['Adam 0.01', () => erase(adam({ lr: 0.01 }))],
  ['Adam 0.02', () => erase(adam({ lr: 0.02 }))],
];
if (a.grid)
  for (const lr0 of [0.02, 0.03, 0.05, 0.08])
    for (const decay of [30, 100, 300])
      for (const p of [0.5, 0.75]) candidates.push([`Adam ${lr0}/(1+n/${decay})^${p}`, () => erase(adam({ lr: (t) => lr0 / Math.pow(1 + t / decay, p) }))]);
for (const path of a.checkpoint) {
  const ck = loadCheckpoint(path);
  if (E.isLeft(ck)) throw ck.left;
  candidates.push([path, () => learnedOptimizer(ck.right)]);
}
process.stdout.write(`| optimizer | score | ${at.map((s) => `step ${s}`).join(' | ')} |\n|---|---|${at.map(() => '---').join('|')}|\n`);
for (const [name, make] of candidates) {
  const v = losses(make);
  const score = v.reduce((s, l) => s + Math.log(l), 0) / v.length;
  process.stdout.write(`| ${name} | ${score.toFixed(4)} | ${v.map((l) => l.toFixed(4)).join(' | ')} |\n`);
}
