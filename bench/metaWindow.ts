/**
 * CPU and wall time of one meta-training window (mlp-mnist 784-20-10, batch 128, the default
 * 20-step truncation, the default LSTM) for several ways of running it, interleaved in one
 * process so that they share the machine's load alike:
 *   heap      the kernels on one thread on tfjs's heap (the path before two-thread windows)
 *   shared-1  the shared-memory window, one thread, gates recomputed by the backward
 *   shared-2  the same on this thread and the worker
 *   saved-1   the shared-memory window, one thread, the backward reading the gates the forward saved (LGL2O_THREADS=1 runs this)
 *   saved-2   the same on this thread and the worker (the default)
 * Run: `npx vite-node bench/metaWindow.ts [rounds] [T] [modes, comma-separated]`. CPU is the process's (all threads).
 * Prints median, min and max per window, and the meta-gradients' largest relative difference to
 * shared-1, relative to its largest element (0 exactly expected, except heap, which sums the
 * weight gradient over coordinates in another order).
 */
import { configureParallel } from '../src/engine/parallel.js';
import { DEFAULT_ARCHITECTURE, flattenWeights, randomWeights } from '../src/l2o/weights.js';
import { disposeWindowStart, episodeStart, metaWindow, setSharedWindows, type WindowStart } from '../src/meta/window.js';
import { setSavedGates } from '../src/meta/sharedWindow.js';
import { mlp } from '../src/optimizee/mlp.js';
import { selectBackend } from '../src/tensor/backend.js';
import { randomMnistBatches } from './randomMnistBatches.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const rounds = Number(process.argv[2] ?? 10);
const T = Number(process.argv[3] ?? 20);
await selectBackend();
const arch = DEFAULT_ARCHITECTURE;
const objective = mlp([784, 20, 10]);
const rng = Rng.seeded(1);
const batches = randomMnistBatches(T, rng);
const weights = flattenWeights(randomWeights(arch, rng));
const x0 = objective.init(rng);
const zero = episodeStart(arch, x0);
// Start from the end of a first window: a nonzero LSTM state, as inside an episode.
const warm = metaWindow(objective, arch, weights, zero, batches);
disposeAll(warm.grads);
const start: WindowStart = warm.end;

const modes = {
  heap: () => (setSharedWindows(false), configureParallel({ enabled: false })),
  'shared-1': () => (setSharedWindows(true), setSavedGates(false), configureParallel({ enabled: false })),
  'shared-2': () => (setSharedWindows(true), setSavedGates(false), configureParallel({ enabled: true })),
  'saved-1': () => (setSharedWindows(true), setSavedGates(true), configureParallel({ enabled: false })),
  'saved-2': () => (setSharedWindows(true), setSavedGates(true), configureParallel({ enabled: true })),
} as const;
type Mode = keyof typeof modes;
const names = (process.argv[4]?.split(',') ?? Object.keys(modes)) as Mode[];
if (!names.every((m) => m in modes)) throw new Error(`bench/metaWindow.ts: modes are ${Object.keys(modes).join(', ')}; got ${process.argv[4]}`);
const cpu = Object.fromEntries(names.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
const wall = Object.fromEntries(names.map((m) => [m, [] as number[]])) as Record<Mode, number[]>;
const grads: Partial<Record<Mode, Float32Array[]>> = {};

const runOnce = (mode: Mode) => {
  modes[mode]();
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const r = metaWindow(objective, arch, weights, start, batches);
  const w1 = performance.now();
  const c1 = process.cpuUsage(c0);
  grads[mode] ??= r.grads.map((g) => g.dataSync() as Float32Array);
  disposeAll(r.grads);
  disposeWindowStart(r.end);
  return { cpuMs: (c1.user + c1.system) / 1000, wallMs: w1 - w0 };
};
for (const m of names) runOnce(m); // compile and warm every path
for (let r = 0; r < rounds; r++) {
  for (const m of r % 2 === 0 ? names : [...names].reverse()) {
    const { cpuMs, wallMs } = runOnce(m);
    cpu[m].push(cpuMs);
    wall[m].push(wallMs);
  }
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => {
  const s = sorted(xs);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (xs: number[]) => `${median(xs).toFixed(0)} (${sorted(xs)[0]!.toFixed(0)}–${sorted(xs).at(-1)!.toFixed(0)})`;
const relDiff = (a: Float32Array[] | undefined, b: Float32Array[] | undefined) => {
  if (a === undefined || b === undefined) return NaN;
  let worst = 0;
  let scale = 1e-30;
  a.forEach((x, i) => {
    const y = b[i]!;
    for (let j = 0; j < x.length; j++) {
      worst = Math.max(worst, Math.abs(x[j]! - y[j]!));
      scale = Math.max(scale, Math.abs(y[j]!));
    }
  });
  return worst / scale;
};
const [load] = (await import('node:os')).loadavg();
console.log(`metaWindow, mlp-mnist 784-20-10 (d = ${x0.shape[0]}), T = ${T}, ${rounds} interleaved rounds, load average ${load!.toFixed(1)}`);
console.log('| mode | CPU ms per window, median (min–max) | wall ms per window, median (min–max) | meta-gradient vs shared-1, max relative difference |');
console.log('| --- | ---: | ---: | ---: |');
for (const m of names) console.log(`| ${m} | ${fmt(cpu[m])} | ${fmt(wall[m])} | ${relDiff(grads[m], grads['shared-1']).toExponential(1)} |`);
process.exit(0); // the worker thread would keep the process alive
