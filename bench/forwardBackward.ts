/**
 * Milliseconds of one forward + backward pass (Objective.lossAndGrad) at batch 128, on the wasm
 * and cpu backends in the same run. Run: `npx vite-node bench/forwardBackward.ts [repeats]`.
 * Both backends run single-threaded here, so the process CPU time of a pass is also reported:
 * it stays meaningful when other jobs share the cores and inflate the wall-clock time.
 */
import * as tf from '@tensorflow/tfjs';
import { convnet } from '../src/optimizee/convnet.js';
import { mlp } from '../src/optimizee/mlp.js';
import type { Objective, TensorBatch } from '../src/optimizee/objective.js';
import { selectBackend, type BackendName } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';

const BATCH = 128;
const repeats = Number(process.argv[2] ?? 30);

interface Case {
  readonly task: string;
  readonly objective: Objective;
  readonly shape: readonly number[];
  readonly classes: number;
  /** Fewer repeats where a pass takes long (the cpu convolution). */
  readonly repeatsOn: (backend: BackendName) => number;
}

const cases: Case[] = [
  { task: 'mlp-mnist 784-20-10', objective: mlp([784, 20, 10]), shape: [784], classes: 10, repeatsOn: () => repeats },
  {
    task: 'conv-mnist 16-32-32',
    objective: convnet({ input: [28, 28, 1], channels: [16, 32, 32], classes: 10 }),
    shape: [28, 28, 1],
    classes: 10,
    repeatsOn: (b) => (b === 'cpu' ? Math.min(repeats, 10) : repeats),
  },
];

function randomBatch(rng: Rng, shape: readonly number[], classes: number): TensorBatch {
  const n = BATCH * shape.reduce((a, b) => a * b, 1);
  return {
    x: tf.tensor(
      Float32Array.from({ length: n }, () => rng.uniform()),
      [BATCH, ...shape],
    ),
    y: tf.tensor1d(
      Int32Array.from({ length: BATCH }, () => rng.int(classes)),
      'int32',
    ),
    size: BATCH,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function timeCase(c: Case, backend: BackendName) {
  const rng = Rng.seeded(1);
  const params = c.objective.init(rng);
  const batch = randomBatch(rng, c.shape, c.classes);
  const once = () => {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const { loss, grad } = c.objective.lossAndGrad(params, batch);
    grad.dataSync();
    loss.dataSync();
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    loss.dispose();
    grad.dispose();
    return { wall, cpu: (cpu.user + cpu.system) / 1000 };
  };
  for (let i = 0; i < 3; i++) once(); // warm-up: kernel setup, allocator
  const runs = c.repeatsOn(backend);
  const times = Array.from({ length: runs }, once);
  tf.dispose([params, batch.x, batch.y]);
  const wall = times.map((t) => t.wall);
  return { median: median(wall), min: Math.min(...wall), cpu: median(times.map((t) => t.cpu)), runs };
}

const rows: string[] = ['| task | backend | median ms | min ms | median CPU ms | runs |', '| --- | --- | --- | --- | --- | --- |'];
for (const backend of ['wasm', 'cpu'] as const) {
  await selectBackend(backend);
  for (const c of cases) {
    const r = timeCase(c, backend);
    rows.push(`| ${c.task}, batch ${BATCH} | ${backend} | ${r.median.toFixed(2)} | ${r.min.toFixed(2)} | ${r.cpu.toFixed(2)} | ${r.runs} |`);
  }
}
console.log(rows.join('\n'));
