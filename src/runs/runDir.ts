import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError, decodeWith, parseJson } from '../codec/decode.js';
import { RunConfig } from '../config/run.js';
import { readRunCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { DEFAULT_SETTINGS, JobSettings } from './settings.js';

/** The files of a run directory. */
export const RUN_FILES = {
  meta: 'run.json',
  events: 'events.ndjson',
  checkpoint: 'checkpoint.json',
  /** One line per checkpoint written: step, tensors alive, resident memory. */
  journal: 'checkpoints.ndjson',
} as const;

/** run.json: the config and settings are decoded; the rest is provenance kept as it is. */
const RunRecord = t.intersection([t.type({ config: RunConfig }), t.partial({ settings: JobSettings })]);

/** A run directory read for `--resume`: what to continue and from where. */
export interface SavedRun {
  readonly dir: string;
  readonly config: RunConfig;
  readonly settings: JobSettings;
  /** run.json as written, to be updated in place. */
  readonly meta: Record<string, unknown>;
  /** Absent when the run stopped before its first checkpoint: it starts again from step 0. */
  readonly checkpoint?: LoadedCheckpoint;
}

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

/** The first path where two JSON values differ, or undefined when they are equal. */
export function firstDifference(a: unknown, b: unknown, path = ''): string | undefined {
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return path || '(top level)';
    for (let i = 0; i < a.length; i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (isRecord(a) && isRecord(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      const d = firstDifference(a[key], b[key], path ? `${path}.${key}` : key);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  return Object.is(a, b) ? undefined : path || '(top level)';
}

const show = (v: unknown) => JSON.stringify(v) ?? 'nothing';

function readMeta(path: string): E.Either<DecodeError, { raw: Record<string, unknown>; config: RunConfig; settings: JobSettings }> {
  return pipe(
    E.tryCatch(
      () => readFileSync(path, 'utf8'),
      (err) => new DecodeError(path, [`cannot read (${err instanceof Error ? err.message : String(err)})`]),
    ),
    E.chain((text) => parseJson(text, path)),
    E.chain((json) =>
      pipe(
        decodeWith(RunRecord, json, path),
        E.chain((rec) => (isRecord(json) ? E.right({ raw: json, config: rec.config, settings: rec.settings ?? DEFAULT_SETTINGS }) : E.left(new DecodeError(path, ['expected an object'])))),
      ),
    ),
  );
}

/** Checks that the checkpoint belongs to this run and that the event log reaches the point it recorded. */
function checkAgainstRun(ck: LoadedCheckpoint, config: RunConfig, settings: JobSettings, dir: string, source: string): E.Either<DecodeError, LoadedCheckpoint> {
  const fail = (problem: string) => E.left(new DecodeError(source, [problem]));
  if (ck.config.task !== config.task) return fail(`a checkpoint of task ${ck.config.task}, but ${RUN_FILES.meta} is a run of task ${config.task}`);
  const configDiff = firstDifference(ck.config, config);
  if (configDiff !== undefined) return fail(`config.${configDiff} is ${show(pick(ck.config, configDiff))}, but ${RUN_FILES.meta} has ${show(pick(config, configDiff))}: a checkpoint of another run`);
  const logDiff = firstDifference(ck.settings.log, settings.log);
  if (logDiff !== undefined) return fail(`settings.log.${logDiff} differs from ${RUN_FILES.meta}: a checkpoint of another run`);
  if (ck.step > config.steps) return fail(`step ${ck.step} is past the run's ${config.steps} steps`);
  const events = join(dir, RUN_FILES.events);
  const size = existsSync(events) ? statSync(events).size : 0;
  if (size < ck.log.bytes) return fail(`the checkpoint needs the first ${ck.log.bytes} bytes of ${RUN_FILES.events}, which has ${size}: the log was truncated or replaced`);
  if (ck.log.bytes > 0) {
    const fd = openSync(events, 'r');
    const byte = Buffer.alloc(1);
    try {
      readSync(fd, byte, 0, 1, ck.log.bytes - 1);
    } finally {
      closeSync(fd);
    }
    if (byte[0] !== 0x0a) return fail(`byte ${ck.log.bytes - 1} of ${RUN_FILES.events} should end a line and does not: the log was replaced`);
  }
  return E.right(ck);
}

function pick(value: unknown, path: string): unknown {
  let v = value;
  for (const part of path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== '')) v = isRecord(v) || Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/** Reads a run directory for `--resume`: run.json, and checkpoint.json when one was written. Touches nothing. */
export function readRunDir(dir: string): E.Either<DecodeError, SavedRun> {
  const metaPath = join(dir, RUN_FILES.meta);
  if (!existsSync(dir)) return E.left(new DecodeError(dir, ['no such directory']));
  if (!existsSync(metaPath)) return E.left(new DecodeError(dir, [`not a run directory (${RUN_FILES.meta} is missing)`]));
  return pipe(
    readMeta(metaPath),
    E.chain(({ raw, config, settings }) => {
      const ckPath = join(dir, RUN_FILES.checkpoint);
      if (!existsSync(ckPath)) return E.right({ dir, config, settings, meta: raw });
      return pipe(
        readRunCheckpoint(ckPath),
        E.chain((ck) => checkAgainstRun(ck, config, settings, dir, ckPath)),
        E.map((checkpoint) => ({ dir, config, settings: { ...settings, log: checkpoint.settings.log }, meta: raw, checkpoint })),
      );
    }),
  );
}
