import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeCliBundle, runCli, startCli } from './cliProcess.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-cli-signals-'));
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

/** stdout as exactly one JSON object on one line. */
function onlyJson(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n').filter((l) => l.length > 0);
  expect(lines, stdout).toHaveLength(1);
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe('--json errors', () => {
  it('a bad flag: one JSON object on stdout with the message and exit code 2, the usual line on stderr', async () => {
    const r = await runCli(['--json', 'run', '--steps', '0']);
    expect(r.code).toBe(2);
    expect(onlyJson(r.stdout)).toEqual({ error: expect.stringMatching(/--steps.*0/), exitCode: 2 });
    expect(r.stderr).toMatch(/^lgl2o: .*--steps/);
  });

  it('an error found while running (a missing config file) and an unknown option before the command', async () => {
    const missing = join(root, 'no-such-config.json');
    const r = await runCli(['--json', 'run', '--config', missing]);
    expect(r.code).toBe(2);
    const err = onlyJson(r.stdout);
    expect(err['exitCode']).toBe(2);
    expect(String(err['error'])).toContain('no-such-config.json');
    const unknown = await runCli(['--json', '--no-such-flag', 'run']);
    expect(unknown.code).toBe(2);
    expect(onlyJson(unknown.stdout)).toEqual({ error: expect.stringMatching(/unknown option '--no-such-flag'/), exitCode: 2 });
  });

  it('without --json, stdout stays empty on error', async () => {
    const r = await runCli(['run', '--steps', '0']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});

describe('SIGHUP', () => {
  it('stops a run like SIGTERM: checkpoint at the last round, log flushed, exit 129', async () => {
    const dir = join(root, 'hangup');
    const run = ['-q', 'run', '--task', 'mlp-spirals', '--optimizer', 'lgl2o', '--l2o', 'random:1', '--steps', '100000'];
    run.push('--checkpoint-every', '5', '--out', dir);
    const proc = await startCli(run);
    const deadline = Date.now() + 60_000;
    while (!existsSync(join(dir, 'checkpoints.ndjson')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    proc.child.kill('SIGHUP');
    const end = await proc.done;
    expect(end.code, end.stderr).toBe(129);
    const message = /^lgl2o: interrupted at step (\d+); checkpoint of step (\d+) in .+; continue with: lgl2o run --resume .+\n$/.exec(end.stderr);
    expect(message, end.stderr).not.toBeNull();
    expect(message![2]).toBe(message![1]);
    expect(readJson(join(dir, 'checkpoint.json'))['step']).toBe(Number(message![1]));
    expect(readJson(join(dir, 'run.json'))['outcome']).toBe('interrupted');
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').trimEnd().split('\n');
    expect((JSON.parse(lines.at(-1)!) as { step: number }).step).toBe(Number(message![1]));
  });
});
