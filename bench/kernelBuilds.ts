/**
 * CPU milliseconds of one fused LSTM step over 15 910 coordinates (one thread) for the kernel
 * builds, interleaved in one process so that machine load hits them alike. CPU time rather than
 * wall time: on a shared machine it is the steadier measure of the code itself.
 * Run: `npx vite-node bench/kernelBuilds.ts [--backward] [plain|relaxed|FILE.wasm ...]` (FILE: a WASM_OUT build).
 * --backward: the backward of that step instead (lstm_backward, gates recomputed, one thread).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { fusedLstmStep, packLstm } from '../src/l2o/fastLstm.js';
import { fusedLstmBackward } from '../src/meta/fastLstmBackward.js';
import { setKernelBinary, setKernelBuild } from '../src/engine/instance.js';
import { configureParallel } from '../src/engine/parallel.js';
import { zeroState } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, randomWeights } from '../src/l2o/weights.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';

await selectBackend('wasm');
configureParallel({ enabled: false });
const backward = process.argv.includes('--backward');
const args = process.argv.slice(2).filter((a) => a !== '--backward');
const builds = args.length > 0 ? args : ['plain', 'relaxed'];
const arch = DEFAULT_ARCHITECTURE;
const d = 15_910;
const packed = packLstm(randomWeights(arch, Rng.seeded(3)), arch);
const rng = Rng.seeded(5);
const g = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal() * Math.exp(rng.between(-14, 0))));
const state = zeroState(arch, d);
const dU = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal()));
const dW = tf.zeros([packed.data.length]) as tf.Tensor1D;
const use = (b: string) => {
  if (b === 'plain' || b === 'relaxed') {
    setKernelBinary(null);
    setKernelBuild(b);
  } else setKernelBinary(readFileSync(b));
};
const cpu: number[][] = builds.map(() => []);
for (let round = 0; round < 15; round++) {
  builds.forEach((b, i) => {
    use(b);
    for (let j = 0; j < 6; j++) {
      const c0 = process.cpuUsage();
      const r = fusedLstmStep(packed, g, state);
      if (r === null) throw new Error(`${b}: the kernel did not run`);
      r.update.dataSync();
      const c1 = process.cpuUsage();
      // The backward from the step's output state: its gates saturate less than from a zero state.
      const back = backward ? fusedLstmBackward(packed, { grads: g, prev: r.state, next: r.state, dUpdate: dU, dNext: r.state }, dW, true) : null;
      if (backward && back === null) throw new Error(`${b}: the backward kernel did not run`);
      const c = process.cpuUsage(backward ? c1 : c0);
      if (j > 0) cpu[i]!.push((c.user + c.system) / 1000);
      tf.dispose([r.update, ...r.state.h, ...r.state.c, ...(back?.dPrev?.h ?? []), ...(back?.dPrev?.c ?? [])]);
    }
  });
}
builds.forEach((b, i) => {
  const a = cpu[i]!.sort((x, y) => x - y);
  console.log(
    `${b.padEnd(10)} CPU ms per ${backward ? 'backward ' : ''}step: min ${a[0]!.toFixed(2)}  p25 ${a[a.length >> 2]!.toFixed(2)}  median ${a[a.length >> 1]!.toFixed(2)}`,
  );
});
