import * as E from 'fp-ts/lib/Either.js';
import { FLOAT32_MAX, isFloat32Finite, oneLine } from '../codec/decode.js';

/** One labelled example from outside, as in the NDJSON line {"x": [...], "y": label}. */
export interface LabelledRecord {
  readonly x: readonly number[];
  readonly y: number;
}

export interface RecordSpec {
  /** Number of values `x` must hold. */
  readonly features: number;
  /** When given, `y` must be an integer in [0, classes); otherwise any finite number (regression). */
  readonly classes?: number;
}

/** A short quote of a value; one nested too deep for JSON.stringify (a RangeError) is described instead. */
const show = (v: unknown): string => {
  let text: string | undefined;
  try {
    text = typeof v === 'number' ? String(v) : JSON.stringify(v);
  } catch {
    return 'deeply nested data';
  }
  return text === undefined ? String(v) : text.length > 30 ? `${text.slice(0, 27)}...` : text;
};

/**
 * Decodes one NDJSON record; the problem names the field and index. Keys other than x and y
 * are ignored (live feeds often carry timestamps). JSON has no NaN or Infinity, but a literal
 * such as 1e999 parses to Infinity: it is rejected like any non-finite value, and so is a finite
 * value that overflows float32 (1e39), which the batch would hold as Infinity.
 */
export function decodeRecord(text: string, spec: RecordSpec): E.Either<string, LabelledRecord> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return E.left(`invalid JSON (${oneLine(err instanceof Error ? err.message : String(err))})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return E.left(`expected an object {"x": [...], "y": label}, got ${show(value)}`);
  const x: unknown = Reflect.get(value, 'x');
  const y: unknown = Reflect.get(value, 'y');
  if (!Array.isArray(x)) return E.left(`x: expected an array of ${spec.features} numbers, got ${show(x)}`);
  if (x.length !== spec.features) return E.left(`x: expected ${spec.features} values, got ${x.length}`);
  const xs: number[] = new Array<number>(x.length);
  for (let j = 0; j < x.length; j++) {
    const v: unknown = x[j];
    if (typeof v !== 'number' || !Number.isFinite(v)) return E.left(`x[${j}]: expected a finite number, got ${show(v)}`);
    if (!isFloat32Finite(v)) return E.left(`x[${j}]: ${v} is outside the float32 range (±${FLOAT32_MAX.toPrecision(5)})`);
    xs[j] = v;
  }
  if (typeof y !== 'number' || !Number.isFinite(y)) return E.left(`y: expected a finite number, got ${show(y)}`);
  if (!isFloat32Finite(y)) return E.left(`y: ${y} is outside the float32 range (±${FLOAT32_MAX.toPrecision(5)})`);
  if (spec.classes !== undefined && !(Number.isInteger(y) && y >= 0 && y < spec.classes))
    return E.left(`y: expected an integer label in [0, ${spec.classes}), got ${show(y)}`);
  return E.right({ x: xs, y });
}
