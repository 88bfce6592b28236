import * as E from 'fp-ts/lib/Either.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRedisUrl, redactUrl } from '../../src/config/redisUrl.js';
import { checkpointSha256 } from '../../jobs/experiment/runner.js';
import { processExecutor, type Executor } from '../../jobs/experiment/pool.js';
import type { QueueTarget } from '../../jobs/queue/connection.js';
import { queueExecutor } from '../../jobs/queue/coordinator.js';
import { CliError } from '../errors.js';
import { packageRoot } from '../../src/paths.js';

export const QUEUE_HELP = 'run on a BullMQ queue at redis://[:PASSWORD@]HOST:PORT[/DB] (a password may instead come from LGL2O_REDIS_PASSWORD)';
export const DEFAULT_QUEUE_NAME = 'lgl2o';

/** The queue named by --queue; a password from LGL2O_REDIS_PASSWORD keeps it out of `ps` and shell history. */
export function queueTarget(url: string, name: string): QueueTarget {
  const parsed = parseRedisUrl(url);
  if (E.isLeft(parsed)) throw new CliError(parsed.left.message);
  const fromEnv = process.env['LGL2O_REDIS_PASSWORD'];
  const address = parsed.right.password === undefined && fromEnv ? { ...parsed.right, password: fromEnv } : parsed.right;
  if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new CliError(`--queue-name ${name}: letters, digits, '.', '_' and '-' only`);
  return { address, shown: redactUrl(url), name };
}

/** How to start the CLI in a child process: LGL2O_CLI (a JSON array) or this package's bin with this node. */
export function cliCommand(): string[] {
  const fromEnv = process.env['LGL2O_CLI'];
  if (fromEnv) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fromEnv);
    } catch {
      parsed = undefined;
    }
    if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((x): x is string => typeof x === 'string')) {
      throw new CliError(`LGL2O_CLI: expected a JSON array of strings (the command that runs lgl2o), got ${fromEnv}`);
    }
    return parsed;
  }
  return [process.execPath, join(packageRoot(), 'bin', 'lgl2o.js')];
}

export const defaultWorkDir = () => join(tmpdir(), 'lgl2o-worker');

export interface Execution {
  readonly executor: Executor;
  readonly jobs: number;
  readonly etaJobs?: number;
}

/**
 * Local processes (`jobs` at a time), or jobs on the queue: all of them at once, for as
 * many workers as are connected. The queue's connection is closed when `fn` ends.
 */
export async function withExecution<T>(
  f: { queue?: string; queueName: string; jobs: number },
  l2o: string,
  log: (line: string) => void,
  fn: (e: Execution) => Promise<T>,
): Promise<T> {
  if (f.queue === undefined) return fn({ executor: processExecutor(cliCommand()), jobs: f.jobs });
  const target = queueTarget(f.queue, f.queueName);
  const sha = checkpointSha256(l2o);
  const q = queueExecutor({ target, l2o, ...(sha !== undefined ? { l2oSha256: sha } : {}), pollMs: 500, log });
  try {
    const workers = await q.workers();
    log(`queue ${target.shown} (${target.name}): ${workers} worker(s) connected${workers === 0 ? '; the runs wait for `lgl2o worker --queue ...`' : ''}`);
    return await fn({ executor: q.executor, jobs: 100_000, etaJobs: Math.max(1, workers) });
  } finally {
    await q.close();
  }
}
