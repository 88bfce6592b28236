import * as esbuild from 'esbuild';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface DemoBuild {
  readonly outDir: string;
  /** The repository's source files in the bundle (relative paths), for checking what entered it. */
  readonly inputs: readonly string[];
}

/**
 * Bundles the page (web/main.ts), its worker (web/worker.ts) and a backend check for tests
 * (web/check.ts) for browsers, and copies what they fetch: the HTML pages, tfjs's wasm binaries and the shipped checkpoints. Node's modules
 * cannot enter: esbuild fails on any `node:` import when bundling for the browser.
 */
export async function buildDemo(outDir: string): Promise<DemoBuild> {
  mkdirSync(join(outDir, 'wasm'), { recursive: true });
  mkdirSync(join(outDir, 'checkpoints'), { recursive: true });
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: { main: 'web/main.ts', worker: 'web/worker.ts', check: 'web/check.ts' },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    metafile: true,
    logLevel: 'warning',
  });
  for (const page of ['index.html', 'check.html']) copyFileSync(join(ROOT, 'web', page), join(outDir, page));
  const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  for (const file of WASM_FILES) copyFileSync(join(wasmDir, 'dist', file), join(outDir, 'wasm', file));
  for (const file of readdirSync(join(ROOT, 'checkpoints')).filter((f) => f.endsWith('.json'))) {
    copyFileSync(join(ROOT, 'checkpoints', file), join(outDir, 'checkpoints', file));
  }
  return { outDir, inputs: Object.keys(result.metafile.inputs).filter((p) => !p.includes('node_modules')) };
}
