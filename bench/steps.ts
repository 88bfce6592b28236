/**
 * One optimizer's speed on mlp-mnist, in its own process (so its peak RSS is its own):
 * warm-up, then `reps` timed repetitions of at least `steps` optimizer steps each, the whole
 * pipeline as a run does it (sample batches → tensors → round → free). Prints one JSON line.
 * Run by bench/bench.ts: `vite-node bench/steps.ts <name> <steps> <reps> <warmup> [fast|slow|one-thread]`.
 */
import * as E from 'fp-ts/lib/Either.js';
import * as tf from '@tensorflow/tfjs';
import { buildOptimizer } from '../src/config/build.js';
import { BatchSampler } from '../src/data/sampler.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';
import { loadTask } from '../src/tasks/index.js';
import { setFastKernels } from '../src/engine/instance.js';
import { configureParallel } from '../src/engine/parallel.js';
import { BENCH_CONFIGS } from './configs.js';

async function main(): Promise<void> {
  const [name = 'sgd', stepsArg = '500', repsArg = '3', warmupArg = '50', mode = 'fast'] = process.argv.slice(2);
  if (mode === 'slow') setFastKernels(false);
  if (mode === 'one-thread') configureParallel({ enabled: false });
  const config = BENCH_CONFIGS[name];
  if (config === undefined) throw new Error(`unknown optimizer ${name} (known: ${Object.keys(BENCH_CONFIGS).join(', ')})`);
  const backend = await selectBackend();
  const loaded = loadTask('mlp-mnist', { seed: 1 });
  if (E.isLeft(loaded)) throw loaded.left;
  const { task, splits, objective } = loaded.right;
  const built = buildOptimizer(config, task.defaults);
  if (E.isLeft(built)) throw built.left;
  const opt = built.right;
  const sampler = new BatchSampler(splits.train, 128, 1001);
  const x0 = objective.init(Rng.seeded(1));
  let state = opt.init(x0);
  x0.dispose();

  /** Runs rounds until at least `n` steps are done; returns the steps and the last loss. */
  const run = (n: number): { steps: number; loss: number } => {
    let steps = 0;
    let loss = NaN;
    while (steps < n) {
      const batches = Array.from({ length: opt.batchesNeeded(state) }, () => toTensorBatch([sampler.next()]));
      const result = opt.round(objective, state, batches);
      batches.forEach(disposeTensorBatch);
      if (E.isLeft(result)) throw new Error(result.left.message);
      const [next, report] = result.right;
      disposeReplaced(state, next);
      state = next;
      steps += report.steps;
      loss = report.loss;
    }
    return { steps, loss };
  };

  run(Number(warmupArg));
  const tensorsBefore = tf.memory().numTensors;
  const stepsPerSecond: number[] = [];
  // CPU milliseconds per step (all threads of this process): steadier than wall time on a busy machine.
  const cpuMsPerStep: number[] = [];
  let loss = NaN;
  for (let r = 0; r < Number(repsArg); r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const done = run(Number(stepsArg));
    stepsPerSecond.push((done.steps * 1000) / (performance.now() - t0));
    const c = process.cpuUsage(c0);
    cpuMsPerStep.push((c.user + c.system) / 1000 / done.steps);
    loss = done.loss;
  }
  const leaked = tf.memory().numTensors - tensorsBefore;
  disposeAll(state);
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  console.log(JSON.stringify({ name, backend, stepsPerSecond, cpuMsPerStep, loss, peakRssMiB, leakedTensors: leaked }));
}

await main();
