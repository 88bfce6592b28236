import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DecodeError } from '../../src/codec/decode.js';
import type { JobSettings } from '../../src/runs/settings.js';
import type { PlannedRun } from '../../src/experiments/plan.js';
import { DEFAULT_K } from '../../src/guard/lossGuard.js';
import { InterruptedError, runJob } from '../runJob.js';
import { appendToFile } from '../files.js';
import { DivergenceError } from '../../streams/train.js';

/** How a run ended, in the CLI's exit codes: 0 finished, 2 bad input, 3 diverged, 129 or 130 interrupted, else failed. */
export interface RunExit {
  readonly code: number;
  readonly message: string;
  readonly wallMs: number;
  /** CPU time (user + system) of the run's process, when it reported it. */
  readonly cpuMs?: number;
}

/** The one field of `lgl2o --json run`'s summary line the runner reads. */
const Summary = t.type({ cpuMs: t.number });

/** CPU time from the last stdout line of `lgl2o --json run`, if it has one. */
export function cpuFromSummary(stdout: string): number | undefined {
  const last = stdout.trim().split('\n').pop() ?? '';
  try {
    const decoded = Summary.decode(JSON.parse(last));
    return E.isRight(decoded) ? decoded.right.cpuMs : undefined;
  } catch {
    return undefined;
  }
}

/** A run being executed: stop it (it checkpoints and exits), or wait for its end. */
export interface Execution {
  readonly stop: () => void;
  readonly done: Promise<RunExit>;
  /** Where the run stands, when the executor knows it better than the run directory's log (a run on another machine). */
  readonly progress?: () => { readonly step: number; readonly elapsedMs: number; readonly loss?: number } | undefined;
  /** Whether the run still waits for a process to run it (a job on a queue no worker has taken yet). */
  readonly waiting?: () => boolean;
}

/** Starts one run in `dir` (absolute or relative to the cwd): fresh, or continuing its saved state. */
export type Executor = (run: PlannedRun, dir: string, mode: 'fresh' | 'resume') => Execution;

/** Log every round (use_l2o and switching need all of them); a checkpoint about every 1 000 steps. */
export function jobSettings(run: Pick<PlannedRun, 'config'>): JobSettings {
  const k = run.config.optimizer.type === 'lgl2o' ? (run.config.optimizer.k ?? DEFAULT_K) : 1;
  return { checkpointEvery: Math.max(1, Math.round(1000 / k)), log: { dense: run.config.steps, perDecade: 100 } };
}

/**
 * The CLI's `lgl2o: …` messages in a stderr text, each with its continuation lines (a missing
 * dataset lists every path it tried on the lines after), or the text's last lines.
 */
export function cliMessage(stderr: string): string {
  const messages: string[][] = [];
  let current: string[] | null = null;
  for (const line of stderr.split('\n')) {
    if (line.startsWith('lgl2o: ')) {
      current = /^lgl2o: (backend|resuming|note)/.test(line) ? null : [line.slice(7)];
      if (current) messages.push(current);
    } else if (current !== null && line.trim() !== '' && !line.startsWith('(node:')) current.push(line);
  }
  return messages.map((m) => m.join('\n')).join('\n') || stderr.trim().split('\n').slice(-3).join('\n');
}

/** Extra environment for a run's process: LGL2O_PARENT_PID makes it checkpoint and exit when that process dies. */
export interface RunProcessOptions {
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * One run in its own process of the CLI (`cli` is the command that starts it, e.g.
 * [node, bin/lgl2o.js]): `run --config DIR/config.json --out DIR` or `run --resume DIR`;
 * stderr is appended to DIR/stderr.log. Stopping sends SIGTERM, on which the run checkpoints.
 */
export function startRunProcess(cli: readonly string[], settings: JobSettings, dir: string, mode: 'fresh' | 'resume', o: RunProcessOptions = {}): Execution {
  const [cmd, ...prefix] = cli;
  const args =
    mode === 'resume'
      ? [...prefix, '--quiet', '--json', 'run', '--resume', dir]
      : [
          ...prefix,
          '--quiet',
          '--json',
          'run',
          '--config',
          join(dir, 'config.json'),
          '--out',
          dir,
          '--force',
          '--checkpoint-every',
          `${settings.checkpointEvery}`,
          '--log-dense',
          `${settings.log.dense}`,
        ];
  const started = performance.now();
  const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(o.env ? { env: { ...process.env, ...o.env } } : {}) });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout = (stdout + chunk.toString('utf8')).slice(-65_536);
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    appendToFile(join(dir, 'stderr.log'), text);
    stderr = (stderr + text).slice(-8192);
  });
  const done = new Promise<RunExit>((resolve) => {
    let settled = false;
    const end = (code: number, extra = '') => {
      if (settled) return;
      settled = true;
      const cpuMs = cpuFromSummary(stdout);
      resolve({ code, message: cliMessage(stderr + extra), wallMs: performance.now() - started, ...(cpuMs !== undefined ? { cpuMs } : {}) });
    };
    child.on('close', (code, signal) => end(code ?? (signal === 'SIGHUP' ? 129 : signal === 'SIGTERM' || signal === 'SIGINT' ? 130 : 1)));
    child.on('error', (err) => end(1, `\nlgl2o: cannot start ${cmd}: ${err.message}`));
  });
  return { stop: () => child.kill('SIGTERM'), done };
}

/** Each run in its own process of the CLI (see `startRunProcess`). */
export function processExecutor(cli: readonly string[]): Executor {
  return (run, dir, mode) => startRunProcess(cli, jobSettings(run), dir, mode);
}

/**
 * Runs in this process, one at a time (a round blocks the event loop): for tests and for
 * machines where spawning is not wanted. Resuming starts the run again from step 0.
 */
export function inProcessExecutor(backend: string): Executor {
  return (run, dir) => {
    const abort = new AbortController();
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const exit = (code: number, message = ''): RunExit => {
      const cpu = process.cpuUsage(cpu0);
      return { code, message, wallMs: performance.now() - started, cpuMs: (cpu.user + cpu.system) / 1000 };
    };
    const done = runJob(run.config, { outDir: dir, backend, progress: false, settings: jobSettings(run), signal: abort.signal }).then(
      () => exit(0),
      (err: unknown) => {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof DivergenceError) return exit(3, message);
        if (err instanceof InterruptedError) return exit(130, message);
        if (err instanceof DecodeError) return exit(2, message);
        return exit(1, message);
      },
    );
    return { stop: () => abort.abort(), done };
  };
}
