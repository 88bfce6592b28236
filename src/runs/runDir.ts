import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError, decodeWith, parseJson } from '../codec/decode.js';
import { READ_LIMITS, readTextFile } from '../codec/readText.js';
import { RunConfig } from '../config/run.js';
import { learnedCheckpointPath, type LearnedFile } from '../config/build.js';
import { configHash, readRunCheckpoint, sha256, type LoadedCheckpoint } from './checkpoint.js';
import { DEFAULT_SETTINGS, JobSettings } from './settings.js';

/** The files of a run directory. */
export const RUN_FILES = {
  meta: 'run.json',
  events: 'events.ndjson',
  checkpoint: 'checkpoint.json',
  /** One line per checkpoint written: step, tensors alive, resident memory. */
  journal: 'checkpoints.ndjson',
  /** The run's own copy of its learned optimizer's checkpoint: resume reads it, never the original path. */
  l2o: 'l2o.json',
} as const;

/** Where run.json records the run's inputs: the config's hash and the learned optimizer's copy. */
const RecordedInputs = t.type({
  config: t.string,
  l2o: t.union([t.null, t.type({ from: t.string, sha256: t.string, copy: t.literal(RUN_FILES.l2o) })]),
});
export type RecordedInputs = t.TypeOf<typeof RecordedInputs>;

/** run.json: the config, settings and inputs are decoded; the rest is provenance kept as it is. */
const RunRecord = t.intersection([t.type({ config: RunConfig }), t.partial({ settings: JobSettings, inputs: RecordedInputs })]);

/** A run directory read for `--resume`: what to continue and from where. */
export interface SavedRun {
  readonly dir: string;
  readonly config: RunConfig;
  readonly settings: JobSettings;
  /** run.json as written, to be updated in place. */
  readonly meta: Record<string, unknown>;
  /** Absent when the run stopped before its first checkpoint: it starts again from step 0. */
  readonly checkpoint?: LoadedCheckpoint;
  /** The run directory's copy of the learned optimizer, checked against the hash recorded at the start. */
  readonly learned?: LearnedFile;
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

interface Meta {
  readonly raw: Record<string, unknown>;
  readonly config: RunConfig;
  readonly settings: JobSettings;
  readonly inputs: RecordedInputs | undefined;
}

function readMeta(path: string): E.Either<DecodeError, Meta> {
  return pipe(
    readTextFile(path, READ_LIMITS.config, 'a run record'),
    E.chain((text) => parseJson(text, path)),
    E.chain((json) =>
      pipe(
        decodeWith(RunRecord, json, path),
        E.chain((rec) =>
          isRecord(json)
            ? E.right({ raw: json, config: rec.config, settings: rec.settings ?? DEFAULT_SETTINGS, inputs: rec.inputs })
            : E.left(new DecodeError(path, ['expected an object'])),
        ),
      ),
    ),
  );
}

/** Checks that the checkpoint belongs to this run and that the event log reaches the point it recorded. */
function checkAgainstRun(ck: LoadedCheckpoint, config: RunConfig, settings: JobSettings, dir: string, source: string): E.Either<DecodeError, LoadedCheckpoint> {
  const fail = (problem: string) => E.left(new DecodeError(source, [problem]));
  if (ck.config.task !== config.task) return fail(`a checkpoint of task ${ck.config.task}, but ${RUN_FILES.meta} is a run of task ${config.task}`);
  const configDiff = firstDifference(ck.config, config);
  if (configDiff !== undefined)
    return fail(
      `config.${configDiff} is ${show(pick(ck.config, configDiff))}, but ${RUN_FILES.meta} has ${show(pick(config, configDiff))}: a checkpoint of another run`,
    );
  const logDiff = firstDifference(ck.settings.log, settings.log);
  if (logDiff !== undefined) return fail(`settings.log.${logDiff} differs from ${RUN_FILES.meta}: a checkpoint of another run`);
  if (ck.step > config.steps) return fail(`step ${ck.step} is past the run's ${config.steps} steps`);
  const hash = configHash(config);
  if (ck.inputs.config !== hash) {
    return fail(`inputs.config: saved for a config hashing to ${ck.inputs.config.slice(0, 12)}…, but ${RUN_FILES.meta}'s hashes to ${hash.slice(0, 12)}…`);
  }
  const events = join(dir, RUN_FILES.events);
  const size = existsSync(events) ? statSync(events).size : 0;
  if (size < ck.log.bytes)
    return fail(`the checkpoint needs the first ${ck.log.bytes} bytes of ${RUN_FILES.events}, which has ${size}: the log was truncated or replaced`);
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
  for (const part of path.split(/\.|\[(\d+)\]/).filter((p) => p !== undefined && p !== ''))
    v = isRecord(v) || Array.isArray(v) ? (v as Record<string, unknown>)[part] : undefined;
  return v;
}

/**
 * The run's copy of its learned optimizer, when its config names a checkpoint file: it must be
 * there and hash to what the checkpoint (or, before the first one, run.json) recorded.
 */
function readLearnedCopy(
  dir: string,
  config: RunConfig,
  inputs: RecordedInputs | undefined,
  ck: LoadedCheckpoint | undefined,
): E.Either<DecodeError, LearnedFile | undefined> {
  const original = learnedCheckpointPath(config.optimizer);
  if (E.isLeft(original)) return original;
  if (original.right === undefined) return E.right(undefined);
  const path = join(dir, RUN_FILES.l2o);
  const want = ck?.inputs.l2o ?? inputs?.l2o?.sha256;
  if (want === undefined || want === null) {
    const problem = `records no copy of the learned optimizer (${RUN_FILES.l2o}); a run started by an earlier lgl2o cannot be resumed: start it again`;
    return E.left(new DecodeError(join(dir, RUN_FILES.meta), [problem]));
  }
  return pipe(
    readTextFile(path, READ_LIMITS.l2o, 'a learned-optimizer checkpoint'),
    E.chain((text) => {
      const got = sha256(text);
      if (got !== want) {
        const problem = `hashes to sha256 ${got.slice(0, 12)}…, but the run was saved with ${want.slice(0, 12)}…`;
        return E.left(new DecodeError(path, [`${problem}: the learned optimizer's weights were changed since the run started`]));
      }
      return E.right({ text, source: path });
    }),
  );
}

/** Reads a run directory for `--resume`: run.json, checkpoint.json when one was written, the learned optimizer's copy. Touches nothing. */
export function readRunDir(dir: string): E.Either<DecodeError, SavedRun> {
  const metaPath = join(dir, RUN_FILES.meta);
  if (!existsSync(dir)) return E.left(new DecodeError(dir, ['no such directory']));
  if (!existsSync(metaPath)) return E.left(new DecodeError(dir, [`not a run directory (${RUN_FILES.meta} is missing)`]));
  return pipe(
    readMeta(metaPath),
    E.chain(({ raw, config, settings, inputs }) => {
      const ckPath = join(dir, RUN_FILES.checkpoint);
      const withLearned = (run: Omit<SavedRun, 'learned'>): E.Either<DecodeError, SavedRun> =>
        pipe(
          readLearnedCopy(dir, config, inputs, run.checkpoint),
          E.map((learned) => (learned === undefined ? run : { ...run, learned })),
        );
      if (!existsSync(ckPath)) return withLearned({ dir, config, settings, meta: raw });
      return pipe(
        readRunCheckpoint(ckPath),
        E.chain((ck) => checkAgainstRun(ck, config, settings, dir, ckPath)),
        E.chain((checkpoint) => withLearned({ dir, config, settings: { ...settings, log: checkpoint.settings.log }, meta: raw, checkpoint })),
      );
    }),
  );
}
