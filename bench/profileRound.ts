/**
 * Where the time of one LGL2O round on mlp-mnist goes, per operation: CPU and wall
 * milliseconds per round (median over rounds), the round itself and its parts timed again on
 * the same inputs. Run: `npx vite-node bench/profileRound.ts [rounds] [fast|slow|one-thread]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs';
import { buildHandDesigned, buildLearned } from '../src/config/build.js';
import { BatchSampler } from '../src/data/sampler.js';
import { lossGuard } from '../src/guard/lossGuard.js';
import { rollout } from '../src/guard/rollout.js';
import { batchLosses } from '../src/guard/round.js';
import { setFastKernels } from '../src/engine/instance.js';
import { configureParallel } from '../src/engine/parallel.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeReplaced } from '../src/tensor/state.js';
import { loadTask } from '../src/tasks/index.js';

const rounds = Number(process.argv[2] ?? 20);
const mode = process.argv[3] ?? 'fast';
await selectBackend();
if (mode === 'slow') setFastKernels(false);
if (mode === 'one-thread') configureParallel({ enabled: false });
const loaded = loadTask('mlp-mnist', { seed: 1 });
if (E.isLeft(loaded)) throw loaded.left;
const { task, splits, objective } = loaded.right;
const learned = buildLearned({ type: 'l2o', checkpoint: 'random:1' });
if (E.isLeft(learned)) throw learned.left;
const fallback = buildHandDesigned({ type: 'sgd' }, task.defaults);
const guard = lossGuard({ learned: learned.right, fallback, k: 10, m: 10 });
const sampler = new BatchSampler(splits.train, 128, 1001);
const x0 = objective.init(Rng.seeded(1));
let state = guard.init(x0);
x0.dispose();

const samples: Record<string, Array<[number, number]>> = {};
function timed<T>(name: string, f: () => T): T {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = f();
  const c = process.cpuUsage(c0);
  (samples[name] ??= []).push([(c.user + c.system) / 1000, performance.now() - t0]);
  return out;
}

for (let r = 0; r < rounds + 3; r++) {
  const raw = timed('sample 20 batches (gather)', () => Array.from({ length: 20 }, () => sampler.next()));
  const batches = timed('toTensorBatch ×20', () => raw.map((b) => toTensorBatch([b])));
  const train = batches.slice(0, 10);
  const compare = batches.slice(10);
  const lr = timed('learned rollout: 10 × (lossAndGrad + l2o step)', () => rollout(objective, learned.right, { x: state.x, opt: state.learned }, train));
  const fr = timed('fallback rollout: 10 × (lossAndGrad + sgd step)', () => rollout(objective, fallback, { x: state.x, opt: state.fallback }, train));
  timed('batchLosses, both candidates (m = 10)', () => [batchLosses(objective, lr.x, compare), batchLosses(objective, fr.x, compare)]);
  timed('lossAndGrad ×10 alone', () => train.forEach((b) => tf.dispose(Object.values(objective.lossAndGrad(state.x, b)))));
  disposeReplaced([lr, fr], state);
  const result = timed('whole round (lossGuard.round)', () => guard.round(objective, state, batches));
  if (E.isLeft(result)) throw new Error(result.left.message);
  disposeReplaced(state, result.right[0]);
  state = result.right[0];
  batches.forEach(disposeTensorBatch);
  if (r === 2) for (const k of Object.keys(samples)) samples[k] = []; // warm-up rounds
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`LGL2O round (10 steps) on mlp-mnist, ${tf.getBackend()} (${mode}): ms per round, median of ${rounds} rounds`);
console.log('| part | CPU ms | wall ms |\n| --- | ---: | ---: |');
for (const [name, xs] of Object.entries(samples)) console.log(`| ${name} | ${med(xs.map((x) => x[0])).toFixed(2)} | ${med(xs.map((x) => x[1])).toFixed(2)} |`);
