/**
 * Where the time of a plain optimizer step (sgd, adam) on mlp-mnist goes, per part: CPU
 * microseconds per step, median over blocks of `block` steps, the parts interleaved block by
 * block (so load changes hit all alike). The update is timed both ways (the fused kernel and
 * the tfjs ops), and the whole step as it is and as it was before the fused update and the
 * gather into tensor memory. Run: `npx vite-node bench/profilePlain.ts [sgd|adam] [blocks] [block]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs';
import { buildHandDesigned, buildOptimizer } from '../src/config/build.js';
import { BatchSampler } from '../src/data/sampler.js';
import { plain } from '../src/guard/plain.js';
import { setFastKernels } from '../src/engine/instance.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';
import { loadTask } from '../src/tasks/index.js';
import { BENCH_CONFIGS } from './configs.js';

const name = process.argv[2] ?? 'sgd';
const blocks = Number(process.argv[3] ?? 30);
const block = Number(process.argv[4] ?? 100);
await selectBackend();
const loaded = loadTask('mlp-mnist', { seed: 1 });
if (E.isLeft(loaded)) throw loaded.left;
const { task, splits, objective } = loaded.right;
const built = buildOptimizer(BENCH_CONFIGS[name]!, task.defaults);
if (E.isLeft(built)) throw built.left;
const sampler = new BatchSampler(splits.train, 128, 1001);
const x0 = objective.init(Rng.seeded(1));
let state = built.right.init(x0);
x0.dispose();

const cpuUs: Record<string, number[]> = {};
function timed(part: string, f: () => void): void {
  const c0 = process.cpuUsage();
  for (let i = 0; i < block; i++) f();
  const c = process.cpuUsage(c0);
  (cpuUs[part] ??= []).push((c.user + c.system) / block);
}

const fixed = toTensorBatch([sampler.next()]);
const { loss, grad } = objective.lossAndGrad(state.x, fixed);
loss.dispose();
const update = buildHandDesigned(name === 'adam' ? { type: 'adam' } : { type: 'sgd' }, task.defaults);
let updateState = update.init(state.x);
const opsRound = plain({
  ...update,
  step: (params, grads, s) => {
    setFastKernels(false);
    try {
      return update.step(params, grads, s);
    } finally {
      setFastKernels(true);
    }
  },
});
for (let b = 0; b < blocks + 3; b++) {
  timed('sample a batch (indices, labels)', () => void sampler.next());
  const raw = Array.from({ length: block }, () => sampler.next());
  let i = 0;
  const tbs: ReturnType<typeof toTensorBatch>[] = [];
  timed('toTensorBatch (gathers the features)', () => void tbs.push(toTensorBatch([raw[i++]!])));
  tbs.forEach(disposeTensorBatch);
  timed('lossAndGrad + loss.dataSync', () => {
    const r = objective.lossAndGrad(state.x, fixed);
    r.loss.dataSync();
    tf.dispose([r.loss, r.grad]);
  });
  for (const fast of [true, false]) {
    setFastKernels(fast);
    timed(`update: ${fast ? 'fused kernel' : 'tfjs ops'}`, () => {
      const [x, s] = update.step(state.x, grad, updateState);
      x.dispose();
      disposeReplaced(updateState, s);
      updateState = s;
    });
    setFastKernels(true);
  }
  // The whole pipeline: now; with the features gathered into a JavaScript buffer first (as
  // before the gather into tensor memory); and also with the update by tfjs ops (as before both).
  for (const [label, gathered, ops] of [
    ['now', false, false],
    ['gathered buffer, fused update', true, false],
    ['gathered buffer, tfjs-op update (before both)', true, true],
  ] as const) {
    timed(`whole step: ${label}`, () => {
      const sampled = sampler.next();
      if (gathered) void sampled.x;
      const tb = toTensorBatch([sampled]);
      const r = (ops ? opsRound : built.right).round(objective, state, [tb]);
      disposeTensorBatch(tb);
      if (E.isLeft(r)) throw new Error(r.left.message);
      disposeReplaced(state, r.right[0]);
      state = r.right[0];
    });
  }
  if (b === 2) for (const k of Object.keys(cpuUs)) cpuUs[k] = [];
}
grad.dispose();
disposeTensorBatch(fixed);
disposeAll([state, updateState]);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${name} on mlp-mnist, ${tf.getBackend()}: CPU µs per step, median of ${blocks} blocks of ${block}`);
console.log('| part | CPU µs |\n| --- | ---: |');
for (const [part, xs] of Object.entries(cpuUs)) console.log(`| ${part} | ${med(xs).toFixed(1)} |`);
