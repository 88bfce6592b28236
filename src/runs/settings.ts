import * as t from 'io-ts';
import { boundedNumber, strictObject } from '../codec/decode.js';

/**
 * Which round events a run writes to its log: every one up to step `dense`, then about
 * `perDecade` per decade of steps (log-spaced), so a million-step log stays small.
 */
export const LogSpacing = strictObject(
  { dense: boundedNumber('dense', 0, Number.MAX_SAFE_INTEGER, true), perDecade: boundedNumber('perDecade', 0, 100_000, true) },
  'LogSpacing',
);
export type LogSpacing = t.TypeOf<typeof LogSpacing>;

/** How a run saves itself; none of it changes the numbers a run computes. */
export const JobSettings = strictObject(
  { checkpointEvery: boundedNumber('checkpointEvery', 1, Number.MAX_SAFE_INTEGER, true), log: LogSpacing },
  'JobSettings',
);
export type JobSettings = t.TypeOf<typeof JobSettings>;

/** A checkpoint every 1000 rounds; every event up to step 10 000, then 100 per decade. */
export const DEFAULT_SETTINGS: JobSettings = { checkpointEvery: 1000, log: { dense: 10_000, perDecade: 100 } };
