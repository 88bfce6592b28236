import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/paths.js';
import { cliBundle, cliInProcess, removeCliBundle } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-safety-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

const SHORT = ['run', '--task', 'quadratic', '--optimizer', 'sgd', '--steps', '5'];
const readJson = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** A file outside the run directory that a planted link points to: it must stay as it is. */
function victim(name: string): string {
  const path = join(root, `${name}.victim`);
  writeFileSync(path, 'precious\n');
  return path;
}

describe('no write through what is planted in --out', () => {
  it('refuses a symbolic link where lgl2o writes a temporary file, naming it; the target is untouched', async () => {
    const dir = join(root, 'tmp-link');
    mkdirSync(dir);
    const target = victim('tmp');
    symlinkSync(target, join(dir, 'run.json.tmp'));
    const r = await cliInProcess([...SHORT, '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`lgl2o: ${join(dir, 'run.json.tmp')}: is a symbolic link (to ${target}); lgl2o never writes through it: remove it and try again\n`);
    expect(readFileSync(target, 'utf8')).toBe('precious\n');
  });

  it('with --force, refuses a linked events.ndjson (symbolic or hard) instead of truncating its target', async () => {
    for (const kind of ['symbolic', 'hard'] as const) {
      const dir = join(root, `events-${kind}`);
      mkdirSync(dir);
      const target = victim(`events-${kind}`);
      (kind === 'symbolic' ? symlinkSync : linkSync)(target, join(dir, 'events.ndjson'));
      const r = await cliInProcess([...SHORT, '--out', dir, '--force']);
      expect(r.code, kind).toBe(2);
      expect(r.stderr).toContain(`${join(dir, 'events.ndjson')}: is a ${kind === 'symbolic' ? 'symbolic link' : 'hard link'}`);
      expect(readFileSync(target, 'utf8')).toBe('precious\n');
    }
  });

  it('refuses --out that is empty, the root, or has a name longer than file systems allow', async () => {
    const cases: [string, string][] = [
      ['', 'lgl2o: --out: an empty path; name a directory\n'],
      ['/', 'lgl2o: --out /: the root of the file system cannot be an output directory; name a directory below it\n'],
    ];
    for (const [out, message] of cases) {
      const r = await cliInProcess([...SHORT, '--out', out]);
      expect([r.code, r.stderr]).toEqual([2, message]);
    }
    const long = join(root, 'x'.repeat(300));
    const r = await cliInProcess([...SHORT, '--out', long]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^lgl2o: --out .{57}\.\.\.: a name in the path is 300 bytes long, more than the 255 file systems allow \(ENAMETOOLONG\)\n$/);
    expect(readdirSync('/').includes('events.ndjson')).toBe(false);
  });
});

describe('integrity of a run directory', () => {
  /** A guarded run on the shipped learned optimizer: 300 steps of LGL2O on spirals, a checkpoint every 5 rounds. */
  const RUN = ['run', '--task', 'mlp-spirals', '--optimizer', 'lgl2o', '--steps', '300', '--seed', '2', '--checkpoint-every', '5'];
  const shipped = join(packageRoot(), 'checkpoints', 'mlp-mnist.json');
  const refDir = join(root, 'reference');

  beforeAll(async () => {
    const r = await cliInProcess(['-q', ...RUN, '--l2o', shipped, '--out', refDir]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('copies the learned optimizer into the run and records its sha256 in run.json and the checkpoint', () => {
    expect(readFileSync(join(refDir, 'l2o.json')).equals(readFileSync(shipped))).toBe(true);
    const sha = createHash('sha256').update(readFileSync(shipped)).digest('hex');
    expect(readJson(join(refDir, 'run.json'))['inputs']).toMatchObject({ l2o: { from: shipped, sha256: sha, copy: 'l2o.json' } });
    expect(readJson(join(refDir, 'checkpoint.json'))['inputs']).toMatchObject({ l2o: sha });
  });

  it('resumes from another working directory with a relative --l2o whose file changed meanwhile, bit for bit', async () => {
    const work = join(root, 'work');
    const elsewhere = join(root, 'elsewhere');
    mkdirSync(work);
    mkdirSync(elsewhere);
    cpSync(shipped, join(work, 'weights.json'));
    const entry = await cliBundle();
    const first = spawn(process.execPath, [entry, '-q', ...RUN, '--l2o', 'weights.json', '--out', 'run'], {
      cwd: work,
      env: { ...process.env, LGL2O_BACKEND: 'wasm' },
    });
    const firstEnd = new Promise<number | null>((resolve) => first.once('close', resolve));
    await until(() => existsSync(join(work, 'run', 'checkpoints.ndjson')) || first.exitCode !== null);
    first.kill('SIGINT');
    expect(await firstEnd).toBe(130);
    // The original file now holds another optimizer's weights; the resume runs where "weights.json" is nothing.
    cpSync(join(packageRoot(), 'checkpoints', 'conv-mnist.json'), join(work, 'weights.json'));
    const resumed = spawn(process.execPath, [entry, '-q', 'run', '--resume', join(work, 'run')], {
      cwd: elsewhere,
      env: { ...process.env, LGL2O_BACKEND: 'wasm' },
    });
    let stderr = '';
    resumed.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    expect(await new Promise((resolve) => resumed.once('close', resolve)), stderr).toBe(0);
    const got = readJson(join(work, 'run', 'checkpoint.json'));
    const want = readJson(join(refDir, 'checkpoint.json'));
    for (const key of ['step', 'round', 'sampler', 'state']) expect(got[key], key).toEqual(want[key]);
  });

  it('refuses a checkpoint with one changed character, and a learned-optimizer copy that was replaced', async () => {
    const flipped = join(root, 'flipped');
    cpSync(refDir, flipped, { recursive: true });
    const text = readFileSync(join(flipped, 'checkpoint.json'), 'utf8');
    const at = text.indexOf('"data":"') + 12;
    writeFileSync(join(flipped, 'checkpoint.json'), `${text.slice(0, at)}${text[at] === 'A' ? 'B' : 'A'}${text.slice(at + 1)}`);
    const bad = await cliInProcess(['-q', 'run', '--resume', flipped]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /checkpoint\.json: its content hashes to sha256 [0-9a-f]{12}…, not the [0-9a-f]{12}… it was saved with: the file was changed or damaged after it was written\n$/,
    );

    const swapped = join(root, 'swapped');
    cpSync(refDir, swapped, { recursive: true });
    cpSync(join(packageRoot(), 'checkpoints', 'conv-mnist.json'), join(swapped, 'l2o.json'));
    const r = await cliInProcess(['-q', 'run', '--resume', swapped]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /l2o\.json: hashes to sha256 [0-9a-f]{12}…, but the run was saved with [0-9a-f]{12}…: the learned optimizer's weights were changed since the run started\n$/,
    );
  });
});

async function until(ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
}
