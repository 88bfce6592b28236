import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { readFileSync } from 'node:fs';
import { DecodeError, boundedNumber, decodeWith, parseJson, strictObject, strictShape } from '../codec/decode.js';
import { RunConfig } from '../config/run.js';
import type { SamplerState } from '../data/sampler.js';
import { decodeState, encodeState, TensorData, type Json, type StateData } from '../tensor/serialize.js';
import type { StateValue } from '../tensor/state.js';
import { JobSettings } from './settings.js';

export const RUN_CHECKPOINT_FORMAT = 'lgl2o/run-checkpoint';
export const RUN_CHECKPOINT_VERSION = 2;

/** Why a checkpoint was written: on schedule, on SIGINT/SIGTERM, or at the end of the run. */
export type CheckpointReason = 'interval' | 'signal' | 'final';

/** Where the event log stood when the checkpoint was taken (it is cut back to this on resume). */
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
}

/** A decoded checkpoint: its state is checked data, not yet tensors. */
export interface LoadedCheckpoint extends RunCheckpoint {
  readonly state: StateData;
}

const count = (name: string) => boundedNumber(name, 0, Number.MAX_SAFE_INTEGER, true);
/** sfc32 words as the generator keeps them: signed or unsigned 32-bit integers. */
const word = boundedNumber('rng word', -(2 ** 31), 2 ** 32 - 1, true);
const SamplerStateCodec = strictObject({ rng: t.tuple([word, word, word, word]), epoch: count('epoch'), position: count('position'), batches: count('batches') }, 'SamplerState');

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
    reason: t.keyof({ interval: null, signal: null, final: null }),
    savedAt: t.string,
    state: t.unknown,
  },
  {},
  'RunCheckpoint',
);

/** The checkpoint as JSON text, with the state's tensors read back bit for bit. */
export function encodeRunCheckpoint(ck: RunCheckpoint, state: StateValue): string {
  const body: { [key: string]: Json | unknown } = { format: RUN_CHECKPOINT_FORMAT, version: RUN_CHECKPOINT_VERSION, ...ck, state: encodeState(state) };
  return `${JSON.stringify(body)}\n`;
}

/** Decodes parsed JSON: format and version first (a clear message for files of other versions), then every field. */
export function decodeRunCheckpoint(json: unknown, source: string): E.Either<DecodeError, LoadedCheckpoint> {
  const header = Header.decode(json);
  if (E.isRight(header)) {
    const { format, version } = header.right;
    if (format !== RUN_CHECKPOINT_FORMAT) return E.left(new DecodeError(source, [`format: expected "${RUN_CHECKPOINT_FORMAT}", got ${JSON.stringify(format)} (not a run checkpoint)`]));
    if (version !== RUN_CHECKPOINT_VERSION) return E.left(new DecodeError(source, [`version: expected ${RUN_CHECKPOINT_VERSION}, got ${version} (written by another version of lgl2o)`]));
  }
  return pipe(
    decodeWith(Body, json, source),
    E.chain((raw) =>
      pipe(
        decodeState(raw.state, source),
        E.chain((state): E.Either<DecodeError, LoadedCheckpoint> => {
          const { format: _f, version: _v, state: _s, ...rest } = raw;
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
    E.tryCatch(
      () => readFileSync(path, 'utf8'),
      (err) => new DecodeError(path, [`cannot read (${err instanceof Error ? err.message : String(err)})`]),
    ),
    E.chain((text) => parseJson(text, path)),
    E.chain((json) => decodeRunCheckpoint(json, path)),
  );
}
