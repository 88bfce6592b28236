import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliInProcess } from './cliProcess.js';

const dir = mkdtempSync(join(tmpdir(), 'lgl2o-live-cli-'));

/** 400 records of two features, labels alternating, with one line of bad JSON and one short record. */
function feed(): string {
  const lines = Array.from({ length: 400 }, (_, i) => JSON.stringify({ x: [Math.sin(i), Math.cos(i)], y: i % 2 }));
  lines.splice(10, 0, 'not json');
  lines.splice(20, 0, '{"x":[1],"y":0}');
  const path = join(dir, 'feed.ndjson');
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

describe('lgl2o run --input live:...', () => {
  it('trains an MLP on a followed NDJSON file, counting malformed lines', async () => {
    const out = join(dir, 'run');
    const r = await cliInProcess([
      'run',
      '--task',
      'mlp',
      '--input',
      `live:file:${feed()}`,
      '--features',
      '2',
      '--classes',
      '2',
      '--batch-size',
      '32',
      '--optimizer',
      'sgd',
      '--steps',
      '12',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/live input: \d+ records, 2 malformed lines/);
    const events = readFileSync(join(out, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number });
    expect(events.at(-1)!.step).toBe(12);
    expect(JSON.parse(readFileSync(join(out, 'run.json'), 'utf8')).config.input).toEqual({
      live: `live:file:${join(dir, 'feed.ndjson')}`,
      features: 2,
      classes: 2,
    });
  });

  it('stops at the first malformed line under --strict, naming it, with exit code 2', async () => {
    const r = await cliInProcess([
      'run',
      '--task',
      'mlp',
      '--input',
      `live:file:${feed()}`,
      '--features',
      '2',
      '--classes',
      '2',
      '--strict',
      '--optimizer',
      'sgd',
      '--steps',
      '50',
      '--out',
      join(dir, 'strict'),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/line 11: invalid JSON/);
  });

  it('refuses a live input without its shape, and the live task without an input', async () => {
    const noFeatures = await cliInProcess(['run', '--task', 'mlp', '--input', 'live:stdin', '--classes', '2', '--out', join(dir, 'a')]);
    expect(noFeatures.code).toBe(2);
    expect(noFeatures.stderr).toContain('--input live:stdin: needs --features');
    const noInput = await cliInProcess(['run', '--task', 'mlp', '--out', join(dir, 'b')]);
    expect(noInput.code).toBe(2);
    expect(noInput.stderr).toContain('trains on a live feed');
    const badSpec = await cliInProcess(['run', '--task', 'mlp', '--input', 'live:udp:9', '--features', '2', '--classes', '2', '--out', join(dir, 'c')]);
    expect(badSpec.code).toBe(2);
    expect(badSpec.stderr).toContain('expected live:stdin, live:file:PATH or live:tcp:PORT');
  });
});
