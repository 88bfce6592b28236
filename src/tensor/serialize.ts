import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { endianness } from 'node:os';
import { DecodeError } from '../codec/decode.js';
import type { StateRecord, StateValue } from './state.js';

/**
 * Optimizer states as JSON, bit for bit: a tensor becomes {"$tensor": {dtype, shape, data}}
 * with its raw little-endian bytes in base64, and the numbers JSON cannot hold (NaN, ±Infinity,
 * −0) become {"$number": "NaN"}; everything else of a `StateValue` is JSON already.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export type SavedDtype = 'float32' | 'int32' | 'bool';
const BYTES: Record<SavedDtype, number> = { float32: 4, int32: 4, bool: 1 };
const TENSOR_KEY = '$tensor';
const NUMBER_KEY = '$number';

/**
 * A decoded state before any tensor exists: tensors are typed arrays with their shape, so a
 * loaded state can be checked against the expected one and rejected without leaking memory.
 */
export class TensorData {
  constructor(
    readonly dtype: SavedDtype,
    readonly shape: readonly number[],
    readonly values: Float32Array | Int32Array | Uint8Array,
  ) {}
}
export type StateData = TensorData | number | string | boolean | null | readonly StateData[] | { readonly [key: string]: StateData };

const bigEndianHost = endianness() === 'BE';

function toBase64(view: ArrayBufferView, bytesPer: number): string {
  const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  if (!bigEndianHost || bytesPer === 1) return bytes.toString('base64');
  return Buffer.from(bytes).swap32().toString('base64');
}

function encodeNumber(n: number): Json {
  if (Number.isNaN(n)) return { [NUMBER_KEY]: 'NaN' };
  if (n === Infinity) return { [NUMBER_KEY]: 'Infinity' };
  if (n === -Infinity) return { [NUMBER_KEY]: '-Infinity' };
  if (Object.is(n, -0)) return { [NUMBER_KEY]: '-0' };
  return n; // JSON's shortest round-trip form of a double reads back to the same bits
}

function isSavedDtype(d: string): d is SavedDtype {
  return d === 'float32' || d === 'int32' || d === 'bool';
}

/** A state value as JSON data; tensors are read back from the backend (none is created). */
export function encodeState(value: StateValue, path = 'state'): Json {
  if (value instanceof tf.Tensor) {
    if (!isSavedDtype(value.dtype)) throw new TypeError(`${path}: cannot save a ${value.dtype} tensor`);
    const data = value.dataSync();
    if (!(data instanceof Float32Array || data instanceof Int32Array || data instanceof Uint8Array))
      throw new TypeError(`${path}: unexpected ${value.dtype} storage`);
    return { [TENSOR_KEY]: { dtype: value.dtype, shape: [...value.shape], data: toBase64(data, BYTES[value.dtype]) } };
  }
  if (typeof value === 'number') return encodeNumber(value);
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map((v: StateValue, i: number) => encodeState(v, `${path}[${i}]`));
  const record: StateRecord = value as StateRecord;
  const out: { [key: string]: Json } = {};
  for (const [key, v] of Object.entries(record)) {
    if (key === TENSOR_KEY || key === NUMBER_KEY) throw new TypeError(`${path}.${key}: this key is reserved by the state format`);
    out[key] = encodeState(v, `${path}.${key}`);
  }
  return out;
}

const isPlainObject = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u);

function decodeTensor(raw: unknown, path: string): E.Either<string, TensorData> {
  if (!isPlainObject(raw)) return E.left(`${path}: expected {dtype, shape, data}, got ${typeof raw}`);
  const { dtype, shape, data } = raw;
  const extra = Object.keys(raw).filter((k) => k !== 'dtype' && k !== 'shape' && k !== 'data');
  if (extra.length > 0) return E.left(`${path}.${extra[0]}: unknown key (known: dtype, shape, data)`);
  if (typeof dtype !== 'string' || !isSavedDtype(dtype))
    return E.left(`${path}.dtype: expected float32, int32 or bool, got ${JSON.stringify(dtype) ?? 'nothing'}`);
  if (!Array.isArray(shape) || !shape.every((d): d is number => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    return E.left(`${path}.shape: expected an array of integers ≥ 0`);
  }
  const size = shape.reduce((a: number, b: number) => a * b, 1);
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) return E.left(`${path}.data: expected base64 text`);
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length !== size * BYTES[dtype]) {
    return E.left(`${path}.data: shape [${shape.join(', ')}] needs ${size * BYTES[dtype]} bytes of ${dtype}, got ${bytes.length}`);
  }
  if (bigEndianHost && BYTES[dtype] === 4) bytes.swap32();
  // Copy into a fresh, aligned buffer: Buffer's pool offsets need not be multiples of 4.
  const copy = new Uint8Array(bytes);
  const values = dtype === 'float32' ? new Float32Array(copy.buffer) : dtype === 'int32' ? new Int32Array(copy.buffer) : copy;
  return E.right(new TensorData(dtype, [...shape], values));
}

function decodeNumber(raw: unknown, path: string): E.Either<string, number> {
  switch (raw) {
    case 'NaN':
      return E.right(NaN);
    case 'Infinity':
      return E.right(Infinity);
    case '-Infinity':
      return E.right(-Infinity);
    case '-0':
      return E.right(-0);
    default:
      return E.left(`${path}: expected "NaN", "Infinity", "-Infinity" or "-0", got ${JSON.stringify(raw) ?? 'nothing'}`);
  }
}

/** Decodes saved state data, naming the path of the first problem; creates no tensor. */
export function decodeStateData(json: unknown, path = 'state', depth = 0): E.Either<string, StateData> {
  if (depth > 64) return E.left(`${path}: nested more than 64 levels deep`);
  if (json === null || typeof json === 'string' || typeof json === 'boolean') return E.right(json);
  if (typeof json === 'number') return Number.isFinite(json) ? E.right(json) : E.left(`${path}: expected a finite number, got ${json}`);
  if (Array.isArray(json)) {
    const out: StateData[] = [];
    for (let i = 0; i < json.length; i++) {
      const item = decodeStateData(json[i], `${path}[${i}]`, depth + 1);
      if (E.isLeft(item)) return item;
      out.push(item.right);
    }
    return E.right(out);
  }
  if (!isPlainObject(json)) return E.left(`${path}: expected JSON data, got ${typeof json}`);
  const keys = Object.keys(json);
  if (keys.includes(TENSOR_KEY) || keys.includes(NUMBER_KEY)) {
    if (keys.length !== 1) return E.left(`${path}: a ${keys.includes(TENSOR_KEY) ? TENSOR_KEY : NUMBER_KEY} object must have no other key`);
    return keys[0] === TENSOR_KEY ? decodeTensor(json[TENSOR_KEY], `${path}.${TENSOR_KEY}`) : decodeNumber(json[NUMBER_KEY], path);
  }
  const out: { [key: string]: StateData } = {};
  for (const key of keys) {
    if (key === '__proto__') return E.left(`${path}: the key __proto__ is not allowed`);
    const item = decodeStateData(json[key], `${path}.${key}`, depth + 1);
    if (E.isLeft(item)) return item;
    out[key] = item.right;
  }
  return E.right(out);
}

/** Decodes saved state data from parsed JSON, as a `DecodeError` naming `source`. */
export function decodeState(json: unknown, source: string, path = 'state'): E.Either<DecodeError, StateData> {
  return E.mapLeft((problem: string) => new DecodeError(source, [problem]))(decodeStateData(json, path));
}

const isTensorData = (d: unknown): d is TensorData => d instanceof TensorData;
const kindOf = (v: StateValue | StateData): string =>
  v instanceof tf.Tensor || isTensorData(v)
    ? 'a tensor'
    : v === null
      ? 'null'
      : Array.isArray(v)
        ? 'an array'
        : typeof v === 'object'
          ? 'a record'
          : `a ${typeof v}`;

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const hasTensor = (v: StateValue | StateData): boolean =>
  v instanceof tf.Tensor || (v !== null && typeof v === 'object' && (isTensorData(v) || Object.values(v).some((x: StateValue | StateData) => hasTensor(x))));

/**
 * Problems with loaded state data against a freshly initialised state of the same optimizer:
 * the same record keys, tensors of the same dtype and shape in the same places. Scalars may
 * differ in kind between number and null (a bound that is unset before the first round), and
 * arrays of scalars in length (histories); arrays holding tensors must match one for one.
 */
export function stateProblems(template: StateValue, data: StateData, path = 'state', out: string[] = []): string[] {
  if (out.length >= 5) return out;
  if (template instanceof tf.Tensor) {
    if (!isTensorData(data)) out.push(`${path}: expected a ${template.dtype} tensor of shape [${template.shape.join(', ')}], got ${kindOf(data)}`);
    else if (data.dtype !== template.dtype) out.push(`${path}: expected dtype ${template.dtype}, got ${data.dtype}`);
    else if (!sameShape(data.shape, template.shape)) out.push(`${path}: expected shape [${template.shape.join(', ')}], got [${data.shape.join(', ')}]`);
    return out;
  }
  if (Array.isArray(template)) {
    if (!Array.isArray(data)) out.push(`${path}: expected an array, got ${kindOf(data)}`);
    else if (template.length !== data.length) {
      if (hasTensor(template) || data.some((d: StateData) => hasTensor(d) || (d !== null && typeof d === 'object'))) {
        out.push(`${path}: expected ${template.length} entries, got ${data.length}`);
      }
    } else template.forEach((t: StateValue, i: number) => stateProblems(t, data[i]!, `${path}[${i}]`, out));
    return out;
  }
  if (template !== null && typeof template === 'object') {
    if (data === null || typeof data !== 'object' || Array.isArray(data) || isTensorData(data)) {
      out.push(`${path}: expected a record, got ${kindOf(data)}`);
      return out;
    }
    const record = data as { readonly [key: string]: StateData };
    const templateRecord = template as StateRecord;
    for (const key of Object.keys(templateRecord)) {
      if (!Object.hasOwn(record, key)) out.push(`${path}.${key}: missing`);
      else stateProblems(templateRecord[key]!, record[key]!, `${path}.${key}`, out);
    }
    for (const key of Object.keys(record)) if (!Object.hasOwn(templateRecord, key)) out.push(`${path}.${key}: unknown for this optimizer`);
    return out;
  }
  const scalar = (v: StateValue | StateData) => v === null || typeof v === 'number';
  if (scalar(template) ? !scalar(data) : typeof template !== typeof data || data === null)
    out.push(`${path}: expected ${kindOf(template)}, got ${kindOf(data)}`);
  return out;
}

/**
 * The first float tensor of saved state data holding NaN or ±Infinity, as `path: ... at index
 * i`, or undefined. A checkpoint is only written from a finite round, so one that is not has
 * been damaged or edited; continuing from it would train on garbage.
 */
export function nonFiniteProblem(data: StateData, path = 'state'): string | undefined {
  if (isTensorData(data)) {
    if (data.dtype !== 'float32') return undefined;
    const i = data.values.findIndex((v: number) => !Number.isFinite(v));
    return i === -1 ? undefined : `${path}: holds ${data.values[i]} at index ${i} (a checkpoint keeps finite values only)`;
  }
  if (data === null || typeof data !== 'object') return undefined;
  const entries: [string, StateData][] = Array.isArray(data)
    ? data.map((d: StateData, i: number) => [`${path}[${i}]`, d])
    : Object.entries(data as { readonly [key: string]: StateData }).map(([k, d]) => [`${path}.${k}`, d]);
  for (const [p, d] of entries) {
    const problem = nonFiniteProblem(d, p);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** Creates the tensors of checked state data; the caller owns them. */
export function materializeState(data: StateData): StateValue {
  if (isTensorData(data)) return tf.tensor(data.values, [...data.shape], data.dtype);
  if (data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) return data.map((d: StateData) => materializeState(d));
  const out: { [key: string]: StateValue } = {};
  for (const [key, v] of Object.entries(data as { readonly [key: string]: StateData })) out[key] = materializeState(v);
  return out;
}
