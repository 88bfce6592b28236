import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cliInProcess, removeCliBundle, startCli } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-flags-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

async function refused(args: readonly string[], message: string): Promise<void> {
  const r = await cliInProcess(['-q', ...args]);
  expect([r.code, r.stderr], args.join(' ')).toEqual([2, `lgl2o: ${message}\n`]);
}

describe('flags that would be silently ignored are refused', () => {
  const out = ['--out', join(root, 'never')];
  it('flags of another optimizer, live flags without --input, flags beside --config', async () => {
    await refused(['run', '--l2o', 'missing.json', '--optimizer', 'sgd', ...out], '--l2o: only with --optimizer l2o, gl2o or lgl2o (this run uses sgd)');
    await refused(['run', '--k', '5', '--optimizer', 'gl2o', ...out], '--k: only with --optimizer lgl2o (this run uses gl2o)');
    await refused(['run', '--delta', '0.1', ...out], '--delta: only with --optimizer gl2o (this run uses lgl2o)');
    await refused(['run', '--fallback', 'adam', '--optimizer', 'adam', ...out], '--fallback: only with --optimizer gl2o or lgl2o (this run uses adam)');
    await refused(
      ['run', '--tau', '10', '--optimizer', 'adam', ...out],
      "--tau: only for the sgd or momentum schedule (this run's hand-designed optimizer is adam)",
    );
    await refused(['run', '--lr', '0.1', '--optimizer', 'l2o', ...out], '--lr: the learned optimizer has no learning rate (this run uses --optimizer l2o)');
    await refused(['run', '--adaptive-max-k', '50', ...out], '--adaptive-max-k: only with --adaptive');
    await refused(['run', '--features', '3', ...out], '--features: only for a live input (--input live:...)');
    const config = join(root, 'c.json');
    writeFileSync(config, JSON.stringify({ task: 'quadratic', optimizer: { type: 'sgd' }, steps: 5 }));
    await refused(
      ['run', '--config', config, '--steps', '7', '--optimizer', 'adam', ...out],
      `--config ${config}: the file holds the whole run; drop --optimizer, --steps (or put them in the file)`,
    );
  });

  it('a flag given twice with values', async () => {
    await refused(['run', '--steps', '5', '--steps', '7', ...out], '--steps given 2 times (5, 7); give it once');
    await refused(['meta-train', '--meta-steps=3', '--meta-steps', '4', ...out], '--meta-steps given 2 times (3, 4); give it once');
  });

  it('while the flags each used alone are accepted', async () => {
    const r = await cliInProcess([
      '-q',
      'run',
      '--task',
      'quadratic',
      '--optimizer',
      'gl2o',
      '--l2o',
      'random:1',
      '--delta',
      '0.1',
      '--fallback',
      'momentum',
      '--tau',
      '5',
      '--steps',
      '3',
      '--out',
      join(root, 'ok'),
    ]);
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('configs', () => {
  it('a number too large for a double is named as such, not as null', async () => {
    const path = join(root, 'huge.json');
    writeFileSync(path, '{"task":"quadratic","optimizer":{"type":"sgd","lr":1e999},"steps":5}');
    await refused(
      ['run', '--config', path, '--out', join(root, 'never')],
      `${path}: optimizer.lr: expected a number in [5e-324, 1000000000], got Infinity (not finite: a number too large, such as 1e999)`,
    );
  });

  it('a UTF-8 byte-order mark is accepted', async () => {
    const path = join(root, 'bom.json');
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"task":"quadratic","optimizer":{"type":"sgd"},"steps":3}')]));
    const out = join(root, 'bom');
    const r = await cliInProcess(['-q', 'run', '--config', path, '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).config).toEqual({ task: 'quadratic', optimizer: { type: 'sgd' }, steps: 3 });
  });
});

describe('signals', () => {
  it('SIGTERM while the program starts (loading MNIST, before training) exits 130 with one line', async () => {
    const p = await startCli(['run', '--task', 'mlp-mnist', '--optimizer', 'sgd', '--steps', '100000', '--out', join(root, 'early')]);
    let stderr = '';
    p.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    // The backend is named just before the data set is read and checked.
    while (!stderr.includes('lgl2o: backend')) await new Promise((r) => setTimeout(r, 2));
    p.child.kill('SIGTERM');
    const end = await p.done;
    expect([end.code, end.signal], end.stderr).toEqual([130, null]);
    // Handled once the synchronous loading returns: the interruption is reported, at most a round in.
    expect(end.stderr).toMatch(/\nlgl2o: interrupted (by SIGTERM|at step \d+[,;] .*)\n$/);
  });
});
