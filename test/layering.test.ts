import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fileWrites } from './support/fileWrites.js';

/** The floor plan's rules (`npm run lint:deps` checks the real tree); here each one is shown to bite. */
const ROOT = process.cwd();
const CONFIG = join(ROOT, '.dependency-cruiser.cjs');
const DEPCRUISE = join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');

const tsFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name).slice(ROOT.length + 1));

const work = mkdtempSync(join(tmpdir(), 'lgl2o-layering-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A tree of planted files, cruised with the project's rules; returns the names of the rules broken. */
async function brokenRules(files: Record<string, string>): Promise<string[]> {
  const dir = mkdtempSync(join(work, 'tree-'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true } }));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const roots = [...new Set(Object.keys(files).map((p) => p.split('/')[0]!))];
  // depcruise exits non-zero on violations; its JSON report is on stdout either way.
  const { stdout } = await promisify(execFile)(process.execPath, [DEPCRUISE, ...roots, '--config', CONFIG, '--output-type', 'json'], { cwd: dir }).catch(
    (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
  );
  const report = JSON.parse(stdout) as { summary: { violations: { rule: { name: string } }[] } };
  return [...new Set(report.summary.violations.map((v) => v.rule.name))].sort();
}

describe('the layering rules', () => {
  it('pass on a tree that imports downward only', async () => {
    expect(
      await brokenRules({
        'src/codec/decode.ts': 'export const a = 1;\n',
        'src/guard/round.ts': "import { a } from '../codec/decode.js';\nexport const b = a;\n",
        'streams/train.ts': "import { b } from '../src/guard/round.js';\nexport const c = b;\n",
        'jobs/runJob.ts': "import { c } from '../streams/train.js';\nexport const d = c;\n",
        'cli/main.ts': "import { d } from '../jobs/runJob.js';\nexport const e = d;\n",
        'index.ts': "export { d } from './jobs/runJob.js';\n",
      }),
    ).toEqual([]);
  });

  it('fail on each planted violation, naming the rule', { timeout: 60_000 }, async () => {
    expect(
      await brokenRules({
        'src/codec/decode.ts': "import { b } from '../guard/round.js';\nexport const a = b;\n",
        'src/guard/round.ts': 'export const b = 1;\n',
        'src/tensor/rx.ts': "import { of } from 'rxjs';\nexport const r = of(1);\n",
        'src/data/up.ts': "import { s } from '../../streams/train.js';\nexport const u = s;\n",
        'src/optim/x.ts': "import type { Y } from './y.js';\nexport type X = { y?: Y };\n",
        'src/optim/y.ts': "import type { X } from './x.js';\nexport type Y = { x?: X };\n",
        'streams/train.ts': "import { j } from '../jobs/runJob.js';\nexport const s = j;\n",
        'jobs/runJob.ts': "import { m } from '../cli/main.js';\nexport const j = m;\n",
        'cli/main.ts': "import { i } from '../index.js';\nexport const m = i;\n",
        'index.ts': 'export const i = 1;\n',
      }),
    ).toEqual(['cli-not-via-index', 'jobs-below-entries', 'no-cycles', 'no-rxjs-in-core', 'src-floor-codec', 'src-is-the-core', 'streams-below-jobs']);
  });
});

describe('the pure core', () => {
  it('writes no files: src/ takes only read functions from node:fs', () => {
    const found = tsFiles('src').flatMap((f) => fileWrites(f, readFileSync(join(ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('the write check catches writes, namespace imports and open for writing', () => {
    const planted = [
      "import { readFileSync, writeFileSync as w } from 'node:fs';",
      "import * as fs from 'fs';",
      "import { open } from 'node:fs/promises';",
      "import { openSync } from 'node:fs';",
      "await open('a', 'w'); openSync('b', 'r'); openSync('c', 'a+');",
    ].join('\n');
    expect(fileWrites('x.ts', planted)).toEqual([
      'x.ts:1: writeFileSync from node:fs writes files',
      'x.ts:2: namespace import of fs; import the read functions by name',
      "x.ts:5: open without the literal flag 'r'",
      "x.ts:5: openSync without the literal flag 'r'",
    ]);
  });
});

describe('streams/', () => {
  it('holds only reactive code: every file imports rxjs', () => {
    const plain = tsFiles('streams').filter((f) => !/from 'rxjs'/.test(readFileSync(join(ROOT, f), 'utf8')));
    expect(plain).toEqual([]);
  });
});
