/**
 * Time and memory of one meta-training window (T steps of the learned optimizer on the
 * MNIST MLP, 15 910 coordinates, and the backward pass), for three ways of differentiating:
 *   fused     the hand-written feature-major backward (metaTrain.ts default)
 *   autodiff  tf.grads through lstmStep, one step at a time (checkpointed at step boundaries)
 *   tape      tf.variableGrads over the whole unrolled window (every activation on one tape),
 *             with TensorFlow.js's own BatchMatMul gradient or, with --fast-matmul, ours
 *
 *   npx tsx scripts/meta-window-cost.ts --mode fused [--steps 20] [--repeats 3]
 *
 * Run one mode per process: the wasm heap only grows, so RSS is that mode's peak. Reports the
 * peak of tf.memory() bytes (tf.profile's peakBytes), the process RSS and CPU time per window
 * (CPU time, not wall time: these machines are shared).
 */
import * as tf from '@tensorflow/tfjs';
import { parseArgs } from 'node:util';
import { lstmStep, zeroState, type L2OState } from '../src/l2o/lstm.js';
import { disposeWindowStart, episodeStart, metaWindow, type BackwardKind } from '../src/meta/window.js';
import { DEFAULT_ARCHITECTURE, flattenWeights, randomWeights, unflattenWeights } from '../src/l2o/weights.js';
import { mlp } from '../src/optimizee/mlp.js';
import { selectBackend } from '../src/tensor/backend.js';
import { randomMnistBatches } from '../bench/randomMnistBatches.js';
import { registerMatMulGradient } from '../src/tensor/matMulGrad.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'fused' },
    steps: { type: 'string', default: '20' },
    repeats: { type: 'string', default: '3' },
    'fast-matmul': { type: 'boolean', default: false },
  },
});
await selectBackend('wasm');
if (args['fast-matmul']) registerMatMulGradient();
const T = Number(args.steps);
const arch = DEFAULT_ARCHITECTURE;
const objective = mlp([784, 20, 10]);
const rng = Rng.seeded(1);
const batches = randomMnistBatches(T, rng);
const weights = flattenWeights(randomWeights(arch, rng));
const x0 = objective.init(rng);

/** The whole window on one tape: Σ_t f_{B_t}(x_t), gradients fed to the LSTM detached. */
function tapeWindow(): { metaLoss: number; grads: tf.Tensor[] } {
  const vars = weights.map((w) => tf.variable(w));
  const { value, grads } = tf.variableGrads(() => {
    const w = unflattenWeights(arch, vars);
    let x: tf.Tensor1D = x0;
    let s: L2OState = zeroState(arch, x0.shape[0]);
    let total = tf.scalar(0);
    for (let t = 0; t < T; t++) {
      total = total.add(objective.perExampleLoss(x, batches[t]!).mean());
      const detached = tf.tensor1d(x.dataSync());
      const { grad, loss } = objective.lossAndGrad(detached, batches[t]!);
      const out = lstmStep(w, arch, grad, s);
      x = x.add(out.update) as tf.Tensor1D;
      s = out.state;
      disposeAll([detached, loss]);
    }
    return total as tf.Scalar;
  }, vars);
  const metaLoss = value.dataSync()[0]!;
  value.dispose();
  const list = vars.map((v) => grads[v.name]!);
  disposeAll(vars);
  return { metaLoss, grads: list };
}

for (let r = 0; r < Number(args.repeats); r++) {
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  let metaLoss = 0;
  const prof = await tf.profile(() => {
    if (args.mode === 'tape') {
      const out = tapeWindow();
      metaLoss = out.metaLoss;
      disposeAll(out.grads);
    } else {
      const start = episodeStart(arch, x0);
      const out = metaWindow(objective, arch, weights, start, batches, { backward: args.mode as BackwardKind });
      metaLoss = out.metaLoss;
      disposeAll(out.grads);
      disposeWindowStart(out.end);
      disposeWindowStart(start);
    }
  });
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(
    `${JSON.stringify({
      mode: args.mode,
      fastMatMul: args['fast-matmul'],
      steps: T,
      metaLoss: Number(metaLoss.toFixed(4)),
      cpuSeconds: Number(((cpu.user + cpu.system) / 1e6).toFixed(2)),
      wallSeconds: Number(((performance.now() - wall0) / 1000).toFixed(2)),
      peakTensorMB: Math.round(prof.peakBytes / 1e6),
      rssMB: Math.round(process.memoryUsage().rss / 1e6),
      tensorsAfter: tf.memory().numTensors,
    })}\n`,
  );
}
