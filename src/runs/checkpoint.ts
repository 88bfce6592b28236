import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { createHash } from 'node:crypto';
import { DecodeError, boundedNumber, decodeWith, fieldPath, parseJson, strictObject, strictShape } from '../codec/decode.js';
import { READ_LIMITS, readTextFile } from '../codec/readText.js';
import { RunConfig } from '../config/run.js';
import type { SamplerState } from '../data/sampler.js';
import { decodeState, encodeState, TensorData, type Json, type StateData } from '../tensor/serialize.js';
import type { StateValue } from '../tensor/state.js';
import { JobSettings } from './settings.js';

export const RUN_CHECKPOINT_FORMAT = 'lgl2o/run-checkpoint';
/**
 * 2: a sha256 of the content at the end and the hashes of the inputs the run depends on.
 * 3: the comparison batches' own sampler (`comparisonSampler`).
 */
export const RUN_CHECKPOINT_VERSION = 3;

/** Why a checkpoint was written: on schedule, on SIGINT/SIGTERM, at the end, or when the run stopped early (its input ended or failed). */
export type CheckpointReason = 'interval' | 'signal' | 'final' | 'stopped';

/** Where the event log stood when the checkpoint was taken (it is cut back to this on resume). */
/**
 * The hashes (sha256, hex) of what the run depends on besides the checkpoint: its config (as
 * canonical JSON) and the learned optimizer's checkpoint file (null when it has none).
 */
export interface RunInputs {
  readonly config: string;
  readonly l2o: string | null;
}

export const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** JSON with object keys sorted at every level: the same value always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{${entries
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

export const configHash = (config: RunConfig): string => sha256(canonicalJson(config));

export interface LogPosition {
  readonly bytes: number;
  readonly lines: number;
}

/**
 * Everything a run needs to continue bit for bit: its config and settings, the optimizer's
 * whole state (parameters, both optimizers' states, the guard's counters), the batch sampler's
 * RNG and position, the round counter and the event log's length.
 */
export interface RunCheckpoint {
  readonly config: RunConfig;
  readonly settings: JobSettings;
  readonly backend: string;
  readonly step: number;
  readonly round: number;
  readonly elapsedMs: number;
  readonly log: LogPosition;
  /** Null when the run trained on a live source, which cannot be rewound. */
  readonly sampler: SamplerState | null;
  /** The comparison batches' own sampler (loss guards on a dataset), else null. */
  readonly comparisonSampler: SamplerState | null;
  readonly reason: CheckpointReason;
  readonly savedAt: string;
  readonly inputs: RunInputs;
}

/** A decoded checkpoint: its state is checked data, not yet tensors. */
export interface LoadedCheckpoint extends RunCheckpoint {
  readonly state: StateData;
}

const count = (name: string) => boundedNumber(name, 0, Number.MAX_SAFE_INTEGER, true);
/** sfc32 words as the generator keeps them: signed or unsigned 32-bit integers. */
const word = boundedNumber('rng word', -(2 ** 31), 2 ** 32 - 1, true);
const SamplerStateCodec = strictObject(
  { rng: t.tuple([word, word, word, word]), epoch: count('epoch'), position: count('position'), batches: count('batches') },
  'SamplerState',
);

const isSha256 = (u: unknown): u is string => typeof u === 'string' && /^[0-9a-f]{64}$/.test(u);
const Sha256 = new t.Type<string, string, unknown>(
  'sha256',
  isSha256,
  (u, c) => (isSha256(u) ? t.success(u) : t.failure(u, c, `${fieldPath(c)}: expected a sha256 (64 hex digits), got ${JSON.stringify(u)?.slice(0, 40)}`)),
  t.identity,
);

const Header = t.type({ format: t.string, version: t.number });

const Body = strictShape(
  {
    format: t.literal(RUN_CHECKPOINT_FORMAT),
    version: t.literal(RUN_CHECKPOINT_VERSION),
    config: RunConfig,
    settings: JobSettings,
    backend: t.string,
    step: count('step'),
    round: count('round'),
    elapsedMs: boundedNumber('elapsedMs', 0, Number.MAX_VALUE),
    log: strictObject({ bytes: count('bytes'), lines: count('lines') }, 'LogPosition'),
    sampler: t.union([SamplerStateCodec, t.null]),
    comparisonSampler: t.union([SamplerStateCodec, t.null]),
    reason: t.keyof({ interval: null, signal: null, final: null, stopped: null }),
    savedAt: t.string,
    inputs: strictObject({ config: Sha256, l2o: t.union([Sha256, t.null]) }, 'RunInputs'),
    state: t.unknown,
    sha256: Sha256,
  },
  {},
  'RunCheckpoint',
);

/**
 * The checkpoint as JSON text, with the state's tensors read back bit for bit; its last field,
 * `sha256`, is the hash of the text before it (that text closed with `}`).
 */
export function encodeRunCheckpoint(ck: RunCheckpoint, state: StateValue): string {
  const body: { [key: string]: Json | unknown } = { format: RUN_CHECKPOINT_FORMAT, version: RUN_CHECKPOINT_VERSION, ...ck, state: encodeState(state) };
  const text = JSON.stringify(body);
  return `${text.slice(0, -1)},"sha256":"${sha256(text)}"}\n`;
}

const CHECKSUM_TAIL = /,"sha256":"([0-9a-f]{64})"\}\s*$/;

/** Checks the text against its own trailing sha256: a changed or damaged byte anywhere is caught. */
export function checksumProblem(text: string): string | undefined {
  const tail = CHECKSUM_TAIL.exec(text);
  if (tail === null) return 'no sha256 at its end: the file is cut short or was not written by lgl2o';
  const actual = sha256(`${text.slice(0, tail.index)}}`);
  if (actual !== tail[1]) {
    const hashes = `its content hashes to sha256 ${actual.slice(0, 12)}…, not the ${tail[1]!.slice(0, 12)}… it was saved with`;
    return `${hashes}: the file was changed or damaged after it was written`;
  }
  return undefined;
}

/** Decodes parsed JSON: format and version first (a clear message for files of other versions), then every field. */
export function decodeRunCheckpoint(json: unknown, source: string): E.Either<DecodeError, LoadedCheckpoint> {
  const header = Header.decode(json);
  if (E.isRight(header)) {
    const { format, version } = header.right;
    if (format !== RUN_CHECKPOINT_FORMAT)
      return E.left(new DecodeError(source, [`format: expected "${RUN_CHECKPOINT_FORMAT}", got ${JSON.stringify(format)} (not a run checkpoint)`]));
    if (version !== RUN_CHECKPOINT_VERSION)
      return E.left(new DecodeError(source, [`version: expected ${RUN_CHECKPOINT_VERSION}, got ${version} (written by another version of lgl2o)`]));
  }
  return pipe(
    decodeWith(Body, json, source),
    E.chain((raw) =>
      pipe(
        decodeState(raw.state, source),
        E.chain((state): E.Either<DecodeError, LoadedCheckpoint> => {
          const { format: _f, version: _v, state: _s, sha256: _h, ...rest } = raw;
          const problem = stateHeaderProblem(state, raw.step);
          return problem === undefined ? E.right({ ...rest, state }) : E.left(new DecodeError(source, [problem]));
        }),
      ),
    ),
  );
}

/** Every round optimizer's state holds its point `x` (a vector) and its step count. */
function stateHeaderProblem(state: StateData, step: number): string | undefined {
  if (state === null || typeof state !== 'object' || Array.isArray(state) || state instanceof TensorData) return 'state: expected a record with x and step';
  const record = state as { readonly [key: string]: StateData };
  const x = record['x'];
  if (!(x instanceof TensorData) || x.shape.length !== 1) return 'state.x: expected a parameter vector';
  if (record['step'] !== step) return `state.step: expected ${step} (the checkpoint's step), got ${JSON.stringify(record['step']) ?? 'nothing'}`;
  return undefined;
}

/** Reads and decodes a checkpoint file; truncated or corrupt files are decode errors naming the file. */
export function readRunCheckpoint(path: string): E.Either<DecodeError, LoadedCheckpoint> {
  return pipe(
    readTextFile(path, READ_LIMITS.run, 'a run checkpoint'),
    E.chain((text) =>
      pipe(
        parseJson(text, path),
        E.chain((json) => {
          // An older version's file gets its version named, not a missing checksum.
          const header = Header.decode(json);
          const otherVersion = E.isRight(header) && header.right.format === RUN_CHECKPOINT_FORMAT && header.right.version !== RUN_CHECKPOINT_VERSION;
          if (otherVersion) return decodeRunCheckpoint(json, path);
          const problem = checksumProblem(text);
          return problem === undefined ? decodeRunCheckpoint(json, path) : E.left(new DecodeError(path, [problem]));
        }),
      ),
    ),
  );
}
