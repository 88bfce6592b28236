import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError, decodeWith, parseJson } from '../../src/codec/decode.js';
import type { Results } from '../../src/experiments/claims.js';
import type { RunResult } from '../../src/experiments/curves.js';
import { evalSteps } from '../../src/experiments/grid.js';
import { RunStatus, RunTiming, type PlannedRun } from '../../src/experiments/plan.js';
import { parseEventLog, RunMeta } from '../../src/experiments/records.js';
import type { Setting } from '../../src/experiments/settings.js';

/** Where a planned run stands on disk. */
export type RunState =
  | { readonly kind: 'finished'; readonly wallMs: number }
  | { readonly kind: 'diverged'; readonly wallMs: number; readonly message: string }
  | { readonly kind: 'failed'; readonly message: string }
  | { readonly kind: 'started' }
  | { readonly kind: 'new' };

function readJson<A>(path: string, decode: (raw: unknown) => E.Either<DecodeError, A>): E.Either<DecodeError, A> {
  return pipe(
    E.tryCatch(
      () => readFileSync(path, 'utf8'),
      (e) => new DecodeError(path, [`cannot read the file (${e instanceof Error ? e.message : String(e)})`]),
    ),
    E.chain((text) => parseJson(text, path)),
    E.chain(decode),
  );
}

/** DIR/timing.json, if the runner wrote one. */
export function readTiming(dir: string): RunTiming | undefined {
  const path = join(dir, 'timing.json');
  if (!existsSync(path)) return undefined;
  const timing = readJson(path, (raw) => decodeWith(RunTiming, raw, path));
  if (E.isLeft(timing)) throw timing.left;
  return timing.right;
}

/** A run's state from its directory: run.json with finishedAt, or the runner's status.json, or neither. */
export function runState(dir: string): RunState {
  const statusPath = join(dir, 'status.json');
  if (existsSync(statusPath)) {
    const status = readJson(statusPath, (raw) => decodeWith(RunStatus, raw, statusPath));
    if (E.isLeft(status)) throw status.left;
    const s = status.right;
    return s.status === 'diverged' ? { kind: 'diverged', wallMs: s.wallMs ?? 0, message: s.message } : { kind: 'failed', message: s.message };
  }
  const metaPath = join(dir, 'run.json');
  if (!existsSync(metaPath)) return existsSync(join(dir, 'events.ndjson')) ? { kind: 'started' } : { kind: 'new' };
  const meta = readJson(metaPath, (raw) => decodeWith(RunMeta, raw, metaPath));
  if (E.isLeft(meta)) throw meta.left;
  return meta.right.finishedAt !== undefined ? { kind: 'finished', wallMs: meta.right.wallMs ?? 0 } : { kind: 'started' };
}

/** Reads a finished or diverged run's event log; throws a DecodeError naming the file and line. */
export function readRun(root: string, run: PlannedRun, state: RunState): RunResult {
  const path = join(root, run.dir, 'events.ndjson');
  const diverged = state.kind === 'diverged';
  const log = parseEventLog(existsSync(path) ? readFileSync(path, 'utf8') : '', path, { partialTail: diverged });
  if (E.isLeft(log)) throw log.left;
  const timing = readTiming(join(root, run.dir));
  // The last event's elapsed time adds up the compute of every process a resumed run took.
  return {
    entry: run.entry.id,
    seed: run.seed,
    log: log.right,
    status: diverged ? 'diverged' : 'finished',
    wallMs: log.right.elapsedMs,
    ...(timing ? { cpuMs: timing.cpuMs } : {}),
  };
}

/** The experiment's finished and diverged runs, grouped by entry; unfinished runs are left out. */
export function collectResults(root: string, setting: Setting, steps: number, runs: readonly PlannedRun[]): Results {
  const byEntry = new Map<string, RunResult[]>();
  for (const run of runs) {
    const state = runState(join(root, run.dir));
    if (state.kind !== 'finished' && state.kind !== 'diverged') continue;
    const list = byEntry.get(run.entry.id) ?? [];
    list.push(readRun(root, run, state));
    byEntry.set(run.entry.id, list);
  }
  return { setting, horizon: steps, grid: evalSteps(steps), runs: byEntry };
}
