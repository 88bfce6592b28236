import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, main } from '../cli/main.js';
import { decodeRunConfig } from '../index.js';

const out = { stdout: '', stderr: '' };

/** Runs the CLI in this process, capturing what it writes. */
async function lgl2o(...argv: string[]): Promise<number> {
  out.stdout = '';
  out.stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out.stdout += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((out.stderr += String(s)), true));
  try {
    return await main(argv);
  } finally {
    vi.restoreAllMocks();
  }
}

afterEach(() => vi.restoreAllMocks());
const dir = mkdtempSync(join(tmpdir(), 'lgl2o-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Each option of a help text with its whole (wrapped) description. */
function optionsOf(help: string): { flags: string; text: string }[] {
  const entries: { flags: string; text: string }[] = [];
  let inOptions = false;
  for (const line of help.split('\n')) {
    if (/^(Global )?Options:$/.test(line)) inOptions = true;
    else if (/^\S/.test(line)) inOptions = false;
    else if (inOptions && /^ {2}-/.test(line)) entries.push({ flags: line.trim().split(/\s{2,}/)[0]!, text: line.trim() });
    else if (inOptions && entries.length > 0 && line.trim() !== '') entries[entries.length - 1]!.text += ` ${line.trim()}`;
  }
  return entries;
}

describe('help', () => {
  const commands = [
    [],
    ...buildProgram()
      .commands.filter((c) => c.name() !== 'help')
      .map((c) => [c.name()]),
  ];
  it.each(commands.map((c) => [c]))('lgl2o %j --help names the default of every option', async (command) => {
    expect(await lgl2o(...command, '--help')).toBe(0);
    const options = optionsOf(out.stdout);
    expect(options.length).toBeGreaterThan(3);
    for (const o of options) {
      if (/--help|--version/.test(o.flags)) continue;
      expect(o.text, o.flags).toMatch(/default/);
    }
    expect(out.stdout).toMatch(
      /Exit codes: 0 ok, 1 failed .*2 bad input or a refused directory .*\n3 diverged, 4 the live input ended before --steps .*129 hung up \(SIGHUP\),\s+130 interrupted \(SIGINT, SIGTERM\)/,
    );
  });

  it('shows the real defaults of run and verify', async () => {
    await lgl2o('run', '--help');
    const run = Object.fromEntries(optionsOf(out.stdout).map((o) => [o.flags, o.text]));
    expect(run['--steps <n>']).toMatch(/\(default: 1000\)/);
    expect(run['--batch-size <n>']).toMatch(/\(default: 128\)/);
    await lgl2o('verify', '--help');
    const verify = Object.fromEntries(optionsOf(out.stdout).map((o) => [o.flags, o.text]));
    expect(verify['--cases <n>']).toMatch(/\(default: 100\)/);
    expect(verify['--l2o <source>']).toMatch(/\(default: "default"\)/);
    expect(verify['--seed <n>']).toMatch(/default: random/);
    expect(verify['--claims <list>']).toMatch(/default: those that hold for the fallback/);
  });
});

describe('bad input: exit 2 and one line naming the flag', () => {
  const badConfig = join(dir, 'bad.json');
  writeFileSync(badConfig, JSON.stringify({ task: 'mlp-spirals', optimizer: { type: 'lgl2o', k: 0 }, steps: 10 }));
  it.each([
    [['run', '--steps', 'abc'], '--steps'],
    [['run', '--batch-size', '0'], '--batch-size'],
    [['run', '--task', 'nope'], '--task'],
    [['run', '--stpes', '5'], '--stpes'],
    [['run', '--config', join(dir, 'missing.json')], '--config'],
    [['run', '--config', badConfig], '.k: expected an integer'],
    [['verify', '--cases', 'x'], '--cases'],
    [['verify', '--max-kappa', '0.5'], '--max-kappa'],
    [['verify', '--path', '1:2'], '--path'],
    [['verify', '--claims', 'descent,speed'], '--claims'],
    [['--quiet', 'verify', '--l2o', join(dir, 'missing.json')], '--l2o'],
    [['nonsense'], 'nonsense'],
  ])('lgl2o %j', async (argv, named) => {
    expect(await lgl2o(...argv)).toBe(2);
    expect(out.stderr.endsWith('\n')).toBe(true);
    expect(out.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain(named);
    expect(out.stdout).toBe('');
  });
});

describe('the JSON form of a pipeline', () => {
  it('examples/pipeline.json decodes to the pipeline of the API docs', () => {
    const config = decodeRunConfig(JSON.parse(readFileSync('examples/pipeline.json', 'utf8')), 'examples/pipeline.json');
    expect(config).toEqual({
      task: 'mlp-mnist',
      optimizer: {
        type: 'lgl2o',
        learned: { type: 'l2o', checkpoint: 'lstm' },
        fallback: { type: 'sgd', lr: 3.0, tau: 50_000, power: 1.5 },
        k: 10,
        m: 10,
      },
      steps: 100_000,
      seed: 1,
      batchSize: 128,
    });
  });

  it('runs with lgl2o run --config and --json', async () => {
    const config = join(dir, 'small.json');
    writeFileSync(
      config,
      JSON.stringify({
        task: 'mlp-spirals',
        optimizer: { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, fallback: { type: 'sgd', lr: 3.0, tau: 50_000, power: 1.5 }, k: 5, m: 5 },
        steps: 50,
        seed: 1,
        batchSize: 64,
      }),
    );
    const runDir = join(dir, 'run');
    expect(await lgl2o('--json', '--quiet', 'run', '--config', config, '--out', runDir)).toBe(0);
    const summary = JSON.parse(out.stdout) as { last: { step: number; loss: number } };
    expect(summary.last.step).toBe(50);
    expect(Number.isFinite(summary.last.loss)).toBe(true);
    expect(readFileSync(join(runDir, 'events.ndjson'), 'utf8').trim().split('\n')).toHaveLength(10); // 50 steps in rounds of k = 5
  });
});
