import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KERNELS_COMPILER, KERNELS_SOURCE_SHA256 } from '../src/engine/wasmBinary.js';

const root = resolve(import.meta.dirname, '..');
const source = join(root, 'native/l2o_kernels.c');
const generated = join(root, 'src/engine/wasmBinary.ts');

/** The clang that native/build.sh would pick (CC, clang, clang-14) and its version line, or null. */
function compiler(): { cc: string; version: string } | null {
  for (const cc of [process.env['CC'], 'clang', 'clang-14']) {
    if (cc === undefined || cc === '') continue;
    const run = spawnSync(cc, ['--version'], { encoding: 'utf8' });
    if (run.status === 0) return { cc, version: run.stdout.split('\n')[0]!.replaceAll("'", '') };
  }
  return null;
}
const hasLinker = ['wasm-ld', 'wasm-ld-14'].some((ld) => spawnSync(ld, ['--version']).status === 0);
const cc = compiler();

describe('the committed wasm kernels (src/engine/wasmBinary.ts)', () => {
  it('were built from the C source as it is now', () => {
    const sha = createHash('sha256').update(readFileSync(source)).digest('hex');
    expect(sha, 'native/l2o_kernels.c changed since the kernels were built: run sh native/build.sh and commit src/engine/wasmBinary.ts').toBe(
      KERNELS_SOURCE_SHA256,
    );
  });

  // Needs the compiler that built them (Debian: clang-14, lld-14; .ci/run installs them).
  const sameCompiler = cc !== null && hasLinker && cc.version === KERNELS_COMPILER;
  it.runIf(sameCompiler)(
    `are rebuilt byte for byte by native/build.sh (${KERNELS_COMPILER})`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'lgl2o-wasm-'));
      try {
        const out = join(dir, 'wasmBinary.ts');
        execFileSync('sh', [join(root, 'native/build.sh')], { env: { ...process.env, CC: cc!.cc, WASM_TS_OUT: out }, stdio: ['ignore', 'ignore', 'pipe'] });
        expect(readFileSync(out, 'utf8') === readFileSync(generated, 'utf8'), 'a fresh build differs from the committed src/engine/wasmBinary.ts').toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
