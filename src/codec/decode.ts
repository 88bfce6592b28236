import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';

/** A decoding failure: where (a field path or byte offset), what was expected, what was found. */
export class DecodeError extends Error {
  constructor(
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    super(`${source}: ${problems.join('; ')}`);
    this.name = 'DecodeError';
  }
}

/** JSON numbers too large for a double (1e999) parse as ±Infinity; name them so, not as JSON's `null`. */
const nonFinite = (v: number) => `${v} (not finite: a number too large, such as 1e999)`;
const showNonFinite = (_key: string, v: unknown): unknown => (typeof v === 'number' && !Number.isFinite(v) ? nonFinite(v) : v);

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'number' && !Number.isFinite(value)) return nonFinite(value);
  const text = JSON.stringify(value, showNonFinite);
  return text === undefined ? String(value) : text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

/**
 * The field path of a decoding context (`optimizer.fallback.lr`), without the member indices
 * io-ts inserts for intersections: a numeric key is kept only where the parent value holds it.
 */
export function fieldPath(context: t.Context): string {
  const keys: string[] = [];
  context.forEach((entry, j) => {
    if (entry.key === '') return;
    const parent: unknown = j > 0 ? context[j - 1]!.actual : undefined;
    const member = /^\d+$/.test(entry.key) && typeof parent === 'object' && parent !== null && !Array.isArray(parent) && !Object.hasOwn(parent, entry.key);
    if (!member) keys.push(entry.key);
  });
  return keys.join('.');
}

/** One line per failed leaf: `field.path: expected TYPE, got VALUE`. */
export function formatErrors(errors: t.Errors): string[] {
  const lines = errors.map((e) => {
    if (e.message !== undefined) return e.message;
    const path = fieldPath(e.context);
    const expected = e.context[e.context.length - 1]?.type.name ?? 'a value';
    return `${path === '' ? '(top level)' : path}: expected ${expected}, got ${describe(e.value)}`;
  });
  return [...new Set(lines)].slice(0, 5);
}

/** Decodes outside data with a codec; the error names `source` and the failing fields. */
export function decodeWith<A, O>(codec: t.Type<A, O, unknown>, value: unknown, source: string): E.Either<DecodeError, A> {
  return pipe(
    codec.decode(value),
    E.mapLeft((errors) => new DecodeError(source, formatErrors(errors))),
  );
}

/** Control characters as escapes: an error message quoting outside text stays on one line. */
export const oneLine = (text: string): string =>
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** Deepest nesting of arrays and objects accepted in outside JSON (configs need 4, checkpoints 8). */
export const MAX_JSON_DEPTH = 64;

/**
 * The path of the first array or object nested deeper than `max`, or undefined. Iterative:
 * the recursive decoders after it would overflow the call stack on 10 000 levels.
 */
export function tooDeep(value: unknown, max = MAX_JSON_DEPTH): string | undefined {
  const stack: [unknown, number, string][] = [[value, 0, '']];
  while (stack.length > 0) {
    const [v, depth, path] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return path === '' ? '(top level)' : path;
    const nested = (item: unknown) => typeof item === 'object' && item !== null;
    if (Array.isArray(v)) v.forEach((item, i) => nested(item) && stack.push([item, depth + 1, `${path}[${i}]`]));
    else for (const [key, item] of Object.entries(v)) if (nested(item)) stack.push([item, depth + 1, path === '' ? key : `${path}.${key}`]);
  }
  return undefined;
}

/**
 * Parses JSON text, reporting the position of a syntax error; a leading UTF-8 byte-order mark is
 * skipped; nesting deeper than `MAX_JSON_DEPTH` is refused.
 */
export function parseJson(text: string, source: string): E.Either<DecodeError, unknown> {
  return pipe(
    E.tryCatch(
      () => JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text) as unknown,
      (err) => new DecodeError(source, [`invalid JSON (${oneLine(err instanceof Error ? err.message : String(err))})`]),
    ),
    E.chain((value) => {
      const deep = tooDeep(value);
      if (deep === undefined) return E.right(value);
      const where = deep.length > 60 ? `${deep.slice(0, 57)}...` : deep;
      return E.left(new DecodeError(source, [`${where}: arrays and objects nested more than ${MAX_JSON_DEPTH} levels deep`]));
    }),
  );
}

/** An object codec that also rejects keys it does not know (typos in configs). */
export function strictObject<P extends t.Props>(props: P, name: string): t.Type<t.TypeOf<t.TypeC<P>>, t.OutputOf<t.TypeC<P>>, unknown> {
  return exactWithUnknownCheck(t.type(props), props, name);
}

/** Required and optional fields together, rejecting unknown keys. */
export function strictShape<R extends t.Props, O extends t.Props>(
  required: R,
  optional: O,
  name: string,
): t.Type<t.TypeOf<t.TypeC<R>> & t.TypeOf<t.PartialC<O>>, t.OutputOf<t.TypeC<R>> & t.OutputOf<t.PartialC<O>>, unknown> {
  return exactWithUnknownCheck(t.intersection([t.type(required), t.partial(optional)]), { ...required, ...optional }, name);
}

function exactWithUnknownCheck<A, O>(codec: t.Type<A, O, unknown>, props: t.Props, name: string): t.Type<A, O, unknown> {
  return new t.Type<A, O, unknown>(
    name,
    codec.is,
    (input, context) => {
      const where = fieldPath(context);
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        return t.failure(input, context, `${where === '' ? '(top level)' : where}: expected an object (${name}), got ${describe(input)}`);
      }
      const unknownKeys = Object.keys(input).filter((k) => !Object.hasOwn(props, k));
      if (unknownKeys.length > 0) {
        const prefix = where === '' ? '' : `${where}.`;
        return t.failure(input, context, `${prefix}${unknownKeys[0]}: unknown key (known: ${Object.keys(props).join(', ')})`);
      }
      return codec.validate(input, context);
    },
    codec.encode,
  );
}

/** The largest float32: a finite double beyond it becomes Infinity in a Float32Array or tensor. */
export const FLOAT32_MAX = 3.4028234663852886e38;

/** A number that stays finite as float32 (rounding to ±FLOAT32_MAX is fine, overflow to ±Infinity is not). */
export const isFloat32Finite = (v: number): boolean => Number.isFinite(Math.fround(v));

/** A number that is finite and within [min, max]. */
export function boundedNumber(name: string, min: number, max: number, integer = false): t.Type<number, number, unknown> {
  return new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isFinite(u) && u >= min && u <= max && (!integer || Number.isInteger(u)),
    (u, c) => {
      if (typeof u === 'number' && Number.isFinite(u) && u >= min && u <= max && (!integer || Number.isInteger(u))) return t.success(u);
      const where = fieldPath(c);
      return t.failure(u, c, `${where}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got ${describe(u)}`);
    },
    (a) => a,
  );
}

/**
 * A union discriminated by a `type` field: the member is chosen by the field, so errors
 * come from that member alone (io-ts unions report every member's complaint).
 */
export function taggedUnion<A>(members: Record<string, t.Mixed>, name: string): t.Type<A, A, unknown> {
  const tags = Object.keys(members);
  return new t.Type<A, A, unknown>(
    name,
    (u): u is A => Object.values(members).some((m) => m.is(u)),
    (input, context) => {
      const where = fieldPath(context);
      const prefix = where === '' ? '' : `${where}.`;
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        return t.failure(
          input,
          context,
          `${where === '' ? '(top level)' : where}: expected an object with "type" one of ${tags.join(', ')}, got ${describe(input)}`,
        );
      }
      const tag: unknown = (input as Record<string, unknown>)['type'];
      const member = typeof tag === 'string' ? members[tag] : undefined;
      if (member === undefined) return t.failure(input, context, `${prefix}type: expected one of ${tags.join(', ')}, got ${describe(tag)}`);
      // The member's codec decides; its type is the member of A chosen by the tag.
      return member.validate(input, context) as t.Validation<A>;
    },
    t.identity,
  );
}
