import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/tensor/rng.js';
import { cliInProcess, removeCliBundle, runCli, startCli, type CliProcess } from './cliProcess.js';

/** A small guarded run: 800 steps of LGL2O (80 rounds), a checkpoint every 5 rounds, evaluations. */
const RUN = [
  '--task',
  'mlp-spirals',
  '--optimizer',
  'lgl2o',
  '--l2o',
  'random:1',
  '--steps',
  '800',
  '--seed',
  '3',
  '--eval-every',
  '250',
  '--checkpoint-every',
  '5',
];

const root = mkdtempSync(join(tmpdir(), 'lgl2o-resume-'));
const refDir = join(root, 'reference');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;

async function until(what: string, ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Polls without the 10 ms sleep of `until`: a round can take under 5 ms. */
async function untilFast(ok: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
}

/** Whole lines in the run's event log (0 before it exists). */
function logLines(dir: string): number {
  const path = join(dir, 'events.ndjson');
  if (!existsSync(path)) return 0;
  return readFileSync(path, 'utf8').split('\n').length - 1;
}

/** run.json is (re)written just before training starts: for the first run it appears, each resume adds an entry. */
function started(dir: string, attempt: number): boolean {
  try {
    const meta = readJson(join(dir, 'run.json'));
    return attempt === 0 || (Array.isArray(meta['resumes']) && meta['resumes'].length === attempt);
  } catch {
    return false; // not there yet, or between the temporary file and its rename
  }
}

/** The log's lines, each parsed; a torn or unparsable line fails the test. */
function events(dir: string): Record<string, unknown>[] {
  const text = readFileSync(join(dir, 'events.ndjson'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Events without their wall-clock field, which no two runs share. */
const comparable = (es: Record<string, unknown>[]) => es.map(({ elapsedMs: _t, ...rest }) => rest);

/** Same parameters, optimizer states, guard counters and sampler position, bit for bit (base64 of the float32 bytes). */
function expectSameFinalState(dir: string): void {
  const got = readJson(join(dir, 'checkpoint.json'));
  const want = readJson(join(refDir, 'checkpoint.json'));
  for (const key of ['step', 'round', 'sampler', 'state', 'config']) expect(got[key], key).toEqual(want[key]);
  expect(got['reason']).toBe('final');
}

function expectSameLog(dir: string): void {
  const got = events(dir);
  const steps = got.map((e) => e['step'] as number);
  for (let i = 1; i < steps.length; i++) expect(steps[i]!, `step after ${steps[i - 1]}`).toBeGreaterThan(steps[i - 1]!);
  expect(comparable(got)).toEqual(comparable(events(refDir)));
}

beforeAll(async () => {
  const ref = await cliInProcess(['-q', 'run', ...RUN, '--out', refDir]);
  expect(ref.code, ref.stderr).toBe(0);
  // The reference log holds every round (80) and three evaluations.
  const logged = events(refDir);
  expect(logged.map((e) => e['step'])).toEqual(Array.from({ length: 80 }, (_, i) => 10 * (i + 1)));
  expect(logged.filter((e) => e['testLoss'] !== undefined).map((e) => e['step'])).toEqual([250, 500, 750]);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  removeCliBundle();
});

describe('checkpoints and resume', () => {
  it('after SIGKILL at random moments (three times), resuming ends bit-identical to the uninterrupted run', async () => {
    const dir = join(root, 'killed');
    const rng = Rng.seeded(20240611);
    const outcomes: string[] = [];
    let killedMidRun = 0;
    for (let attempt = 0; attempt < 3; attempt++) {
      const proc: CliProcess = await startCli(attempt === 0 ? ['-q', 'run', ...RUN, '--out', dir] : ['-q', 'run', '--resume', dir]);
      await until(`attempt ${attempt} to start`, () => started(dir, attempt) || proc.child.exitCode !== null);
      const before = logLines(dir);
      // Kill at a random point of progress rather than a random time: a fast machine finishes the run in under a second.
      const target = Math.min(75, before + 5 + Math.floor(rng.between(0, 20)));
      await untilFast(() => logLines(dir) >= target || proc.child.exitCode !== null);
      const delay = rng.between(0, 15);
      await sleep(delay);
      proc.child.kill('SIGKILL');
      const end = await proc.done;
      const after = logLines(dir);
      outcomes.push(
        `attempt ${attempt}: killed ${delay.toFixed(0)} ms after ${target} logged rounds, ${end.signal ?? `exit ${end.code}`}, log ${before} → ${after} lines`,
      );
      if (end.signal === 'SIGKILL' && after > before) killedMidRun += 1;
      if (end.signal !== 'SIGKILL') expect(end.code, end.stderr).toBe(0);
    }
    const last = await runCli(['-q', 'run', '--resume', dir]);
    expect(last.code, last.stderr).toBe(0);
    expect(killedMidRun, outcomes.join('\n')).toBeGreaterThanOrEqual(1);
    expectSameFinalState(dir);
    expectSameLog(dir);
  });

  it('on SIGINT writes a checkpoint, flushes the log and exits 130; a torn line and later rounds are cut on resume', async () => {
    const dir = join(root, 'interrupted');
    const proc = await startCli(['-q', 'run', ...RUN, '--out', dir]);
    await untilFast(() => existsSync(join(dir, 'checkpoints.ndjson')));
    proc.child.kill('SIGINT');
    const end = await proc.done;
    expect(end.code, end.stderr).toBe(130);
    const message = /^lgl2o: interrupted at step (\d+); checkpoint of step (\d+) in (.+); continue with: lgl2o run --resume (.+)\n$/.exec(end.stderr);
    expect(message, end.stderr).not.toBeNull();
    const [, step, ckStep] = message!;
    expect(ckStep).toBe(step);
    const ck = readJson(join(dir, 'checkpoint.json'));
    expect(ck['step']).toBe(Number(step));
    // The log holds exactly the rounds up to the checkpoint, flushed.
    const log = ck['log'] as { bytes: number; lines: number };
    expect(statSync(join(dir, 'events.ndjson')).size).toBe(log.bytes);
    const logged = events(dir);
    expect(logged.length).toBe(log.lines);
    expect(logged.at(-1)!['step']).toBe(Number(step));
    expect(readJson(join(dir, 'run.json'))['outcome']).toBe('interrupted');

    // What a crash after the checkpoint leaves behind: more whole lines and a torn one.
    appendFileSync(join(dir, 'events.ndjson'), '{"step":99990,"round":9999,"loss":1}\n{"step":99999,"rou');
    const resumed = await runCli(['-q', 'run', '--resume', dir]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expectSameFinalState(dir);
    expectSameLog(dir);
    expect(readJson(join(dir, 'run.json'))['outcome']).toBe('finished');
  });

  it('resuming a finished run changes nothing and says so', async () => {
    const dir = join(root, 'finished');
    cpSync(refDir, dir, { recursive: true });
    const before = readFileSync(join(dir, 'events.ndjson'));
    const out = await cliInProcess(['run', '--resume', dir]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stdout).toBe(`${dir}: the run already finished (step 800 of 800)\n`);
    expect(readFileSync(join(dir, 'events.ndjson')).equals(before)).toBe(true);
  });
});
