import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { DecodeError, formatErrors } from '../codec/decode.js';

/** NaN and ±Infinity are written as null by JSON. */
const nullableNumber = t.union([t.number, t.null]);

/** The fields of an event line (src/runs/events.ts StepEvent) that experiments read; others are allowed. */
const optional = <C extends t.Mixed>(c: C) => t.union([c, t.undefined]);
const EventLine = t.type({
  step: t.number,
  elapsedMs: t.number,
  loss: optional(nullableNumber),
  trainLoss: optional(nullableNumber),
  useL2O: optional(t.union([t.literal(0), t.literal(1)])),
});

/** The fields of run.json that experiments read. */
export const RunMeta = t.partial({ finishedAt: t.string, wallMs: t.number, startedAt: t.string });
export type RunMeta = t.TypeOf<typeof RunMeta>;

/** A training-loss evaluation on the fixed training subset (NaN when the loss was not finite). */
export interface EvalPoint {
  readonly step: number;
  readonly loss: number;
}

/** A loss-guard round: where it ended and whether it kept the learned candidate. */
export interface GuardRound {
  readonly step: number;
  readonly useL2O: 0 | 1;
}

export interface EventLog {
  readonly evals: readonly EvalPoint[];
  readonly rounds: readonly GuardRound[];
  /** Step and elapsed time of the last event (0 when there is none). */
  readonly lastStep: number;
  readonly elapsedMs: number;
}

/**
 * Decodes an `events.ndjson` text. A last line without its newline is an interrupted write
 * and is dropped when `partialTail` is set (a run still going or stopped); otherwise every
 * line must decode, and the error names the source and the line.
 */
export function parseEventLog(text: string, source: string, { partialTail = false } = {}): E.Either<DecodeError, EventLog> {
  const lines = text.split('\n');
  const tail = lines.pop() ?? '';
  if (tail !== '' && !partialTail) lines.push(tail);
  const evals: EvalPoint[] = [];
  const rounds: GuardRound[] = [];
  let lastStep = 0;
  let elapsedMs = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch (err) {
      return E.left(new DecodeError(`${source}:${i + 1}`, [`invalid JSON (${err instanceof Error ? err.message : String(err)})`]));
    }
    const decoded = EventLine.decode(raw);
    if (E.isLeft(decoded)) return E.left(new DecodeError(`${source}:${i + 1}`, formatErrors(decoded.left)));
    const e = decoded.right;
    if (e.trainLoss !== undefined) evals.push({ step: e.step, loss: e.trainLoss ?? NaN });
    if (e.useL2O !== undefined) rounds.push({ step: e.step, useL2O: e.useL2O });
    lastStep = e.step;
    elapsedMs = e.elapsedMs;
  }
  return E.right({ evals, rounds, lastStep, elapsedMs });
}

/** The last complete line's step and elapsed time, read cheaply from the tail of a growing log. */
export function lastProgress(tailText: string): { step: number; elapsedMs: number; loss?: number } | undefined {
  const lines = tailText.split('\n');
  lines.pop(); // the line being written, or '' after the last newline
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const decoded = EventLine.decode(JSON.parse(lines[i]!));
      if (E.isRight(decoded)) {
        const { step, elapsedMs, loss } = decoded.right;
        return { step, elapsedMs, ...(typeof loss === 'number' ? { loss } : {}) };
      }
    } catch {
      // a line cut at the start of the tail window: try the one before
    }
  }
  return undefined;
}
