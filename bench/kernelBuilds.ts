/**
 * CPU milliseconds of one fused LSTM step over 15 910 coordinates (one thread) for the kernel
 * builds, interleaved in one process so that machine load hits them alike. CPU time rather than
 * wall time: on a shared machine it is the steadier measure of the code itself.
 * Run: `npx vite-node bench/kernelBuilds.ts [plain|relaxed|FILE.wasm ...]` (FILE: a WASM_OUT build).
 */
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { fusedLstmStep, packLstm } from '../src/l2o/fastLstm.js';
import { setKernelBinary, setKernelBuild } from '../src/engine/instance.js';
import { configureParallel } from '../src/engine/parallel.js';
import { zeroState } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, randomWeights } from '../src/l2o/weights.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';

await selectBackend('wasm');
configureParallel({ enabled: false });
const builds = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['plain', 'relaxed'];
const arch = DEFAULT_ARCHITECTURE;
const d = 15_910;
const packed = packLstm(randomWeights(arch, Rng.seeded(3)), arch);
const rng = Rng.seeded(5);
const g = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal() * Math.exp(rng.between(-14, 0))));
const state = zeroState(arch, d);
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
      const c = process.cpuUsage(c0);
      if (j > 0) cpu[i]!.push((c.user + c.system) / 1000);
      tf.dispose([r.update, ...r.state.h, ...r.state.c]);
    }
  });
}
builds.forEach((b, i) => {
  const a = cpu[i]!.sort((x, y) => x - y);
  console.log(`${b.padEnd(10)} CPU ms per step: min ${a[0]!.toFixed(2)}  p25 ${a[a.length >> 2]!.toFixed(2)}  median ${a[a.length >> 1]!.toFixed(2)}`);
});
