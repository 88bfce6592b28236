import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

/** The repository root (tests run from it). */
const ROOT = process.cwd();

let bundled: Promise<string> | undefined;
const bundleDir = join(ROOT, 'node_modules', '.cache', `lgl2o-cli-${process.pid}`);

/** Deletes this process's bundle (call from afterAll). */
export function removeCliBundle(): void {
  rmSync(bundleDir, { recursive: true, force: true });
  bundled = undefined;
}

/**
 * The CLI of the current sources as one ES module, bundled by esbuild (vite's own compiler)
 * in a fraction of a second, so child-process tests never run a stale dist/. It lives under
 * node_modules/.cache so that its packages resolve as they do from the repository.
 */
export function cliBundle(): Promise<string> {
  bundled ??= (async () => {
    mkdirSync(bundleDir, { recursive: true });
    const outfile = join(bundleDir, 'lgl2o.mjs');
    await build({
      // The same start as bin/lgl2o.js: signals handled while the modules load.
      stdin: {
        contents: readFileSync(join(ROOT, 'bin', 'lgl2o.js'), 'utf8')
          .replace('#!/usr/bin/env node', '')
          .replace('../dist/cli/main.js', './cli/main.ts'),
        resolveDir: ROOT,
        loader: 'ts',
        sourcefile: 'lgl2o-entry.ts',
      },
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      outfile,
      logLevel: 'error',
    });
    return outfile;
  })();
  return bundled;
}

export interface Finished {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running CLI process on the wasm backend, with its output collected. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly done: Promise<Finished>;
}

export async function startCli(args: readonly string[]): Promise<CliProcess> {
  const entry = await cliBundle();
  const child = spawn(process.execPath, [entry, ...args], { cwd: ROOT, env: { ...process.env, LGL2O_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Finished>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

export async function runCli(args: readonly string[]): Promise<Finished> {
  return (await startCli(args)).done;
}

/**
 * Runs the CLI's `main` in this process (no start-up cost), with stdout and stderr captured;
 * `code` is what the process would exit with.
 */
export async function cliInProcess(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../cli/main.js');
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((chunk: string | Uint8Array) => ((stdout += chunk.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += chunk.toString()), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
  }
}
