import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { DecodeError } from '../codec/decode.js';
import { readBytes } from './files.js';

/**
 * The IDX format (LeCun's MNIST files): bytes 0–1 are zero, byte 2 the element type, byte 3
 * the rank r; then r big-endian uint32 dimensions; then the elements, big-endian, row-major.
 */
const TYPES = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
} as const;

type TypeCode = keyof typeof TYPES;
export type IdxType = (typeof TYPES)[TypeCode]['name'];
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly file: string;
  readonly type: IdxType;
  readonly dims: readonly number[];
  readonly data: IdxData;
  /** Byte offset of the first element (in the decompressed bytes for a .gz file). */
  readonly dataOffset: number;
}

/** What the caller needs; a mismatch is an error naming the header byte that differs. */
export interface IdxExpectation {
  readonly type?: IdxType;
  readonly rank?: number;
  /** Required sizes per dimension; `undefined` leaves a dimension free. */
  readonly dims?: readonly (number | undefined)[];
}

const hex = (n: number, width = 2) => `0x${n.toString(16).padStart(width, '0').toUpperCase()}`;
const isTypeCode = (code: number): code is TypeCode => code in TYPES;

const isGzip = (file: string, bytes: Uint8Array) => file.endsWith('.gz') || (bytes[0] === 0x1f && bytes[1] === 0x8b);

/** Largest IDX data accepted (the header's announced size): 2 GiB, far above MNIST's 47 MB. */
export const IDX_MAX_BYTES = 2 ** 31;

const corrupt = (file: string, bytes: Uint8Array, err: unknown) =>
  new DecodeError(file, [`gzip data is corrupt or truncated (${bytes.length} compressed bytes; zlib: ${err instanceof Error ? err.message : String(err)})`]);

/**
 * The first decompressed bytes, enough for the IDX header (at most 1 024 bytes): prefixes of
 * growing length are inflated, so a small prefix of a bomb yields at most about 1 000 times
 * its size.
 */
function gunzipHead(bytes: Uint8Array, file: string): E.Either<DecodeError, Uint8Array> {
  for (let n = 4096; ; n *= 4) {
    const prefix = bytes.subarray(0, Math.min(n, bytes.length));
    let head: Uint8Array;
    try {
      head = gunzipSync(prefix, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch (err) {
      return E.left(corrupt(file, bytes, err));
    }
    const rank = head.length >= 4 ? head[3]! : 255;
    if (head.length >= 4 + 4 * rank || prefix.length === bytes.length) return E.right(head);
  }
}

/**
 * Gunzips when the name ends in .gz or the bytes start with the gzip magic 1F 8B. Output is
 * bounded by the size the IDX header announces: decompression stops there (a gzip bomb is an
 * error naming the byte offset, not gigabytes of memory).
 */
export function maybeGunzip(bytes: Uint8Array, file: string): E.Either<DecodeError, Uint8Array> {
  if (!isGzip(file, bytes)) return E.right(bytes);
  const where = `${file} (offsets in the gunzipped data)`;
  return pipe(
    gunzipHead(bytes, file),
    E.chain((head) =>
      pipe(
        parseHeader(head, where, {}),
        // A header cut short: the whole (short) output goes to parseIdx, which names the offset.
        E.fold(
          (err) => (head.length < 4 || head.length < 4 + 4 * head[3]! ? E.right(head.length) : E.left(err)),
          (h) => E.right(h.end),
        ),
      ),
    ),
    E.chain((announced) => {
      if (announced > IDX_MAX_BYTES)
        return E.left(new DecodeError(where, [`byte 4: the header announces ${announced} bytes, more than the limit of ${IDX_MAX_BYTES}`]));
      try {
        return E.right(gunzipSync(bytes, { maxOutputLength: Math.max(announced, 1) }));
      } catch (err) {
        if ((err as { code?: unknown }).code !== 'ERR_BUFFER_TOO_LARGE') return E.left(corrupt(file, bytes, err));
        return E.left(
          new DecodeError(where, [
            `byte ${announced}: the gzip data goes on past the ${announced} bytes the IDX header announces; decompression stopped there`,
          ]),
        );
      }
    }),
  );
}

interface Header {
  readonly code: TypeCode;
  readonly dims: readonly number[];
  readonly headerEnd: number;
  /** Where the data ends: the file's announced size. */
  readonly end: number;
}

/** The header fields, each checked against `expect`; errors name the byte. */
function parseHeader(bytes: Uint8Array, where: string, expect: IdxExpectation): E.Either<DecodeError, Header> {
  const fail = (offset: number, what: string) => E.left(new DecodeError(where, [`byte ${offset}: ${what}`]));
  if (bytes.length < 4) return fail(bytes.length, `file ends inside the 4-byte IDX magic number (${bytes.length} bytes in all)`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    return fail(bytes[0] !== 0 ? 0 : 1, `bad IDX magic number: expected 00 00 <type> <rank>, got ${[...bytes.subarray(0, 4)].map((b) => hex(b)).join(' ')}`);
  }
  const code = bytes[2]!;
  if (!isTypeCode(code))
    return fail(
      2,
      `unknown IDX element type ${hex(code)} (known: ${Object.keys(TYPES)
        .map((k) => hex(Number(k)))
        .join(', ')})`,
    );
  const type = TYPES[code];
  if (expect.type !== undefined && type.name !== expect.type) return fail(2, `expected element type ${expect.type}, got ${hex(code)} (${type.name})`);
  const rank = bytes[3]!;
  if (rank === 0) return fail(3, 'rank 0: an IDX array needs at least one dimension');
  if (expect.rank !== undefined && rank !== expect.rank) return fail(3, `expected rank ${expect.rank}, got ${rank}`);

  const headerEnd = 4 + 4 * rank;
  if (bytes.length < headerEnd)
    return fail(bytes.length, `file ends inside the header: ${rank} dimensions need bytes 4..${headerEnd - 1}, the file has ${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) {
    const size = view.getUint32(4 + 4 * i, false);
    const wanted = expect.dims?.[i];
    if (wanted !== undefined && size !== wanted) return fail(4 + 4 * i, `expected dimension ${i} to be ${wanted}, got ${size}`);
    dims.push(size);
  }
  const count = dims.reduce((a, b) => a * b, 1);
  return E.right({ code, dims, headerEnd, end: headerEnd + count * type.bytes });
}

/** Decodes IDX bytes (already decompressed) with every header field checked. */
export function parseIdx(bytes: Uint8Array, file: string, expect: IdxExpectation = {}, gunzipped = false): E.Either<DecodeError, IdxArray> {
  const where = gunzipped ? `${file} (offsets in the gunzipped data)` : file;
  return E.chain(({ code, dims, headerEnd, end }: Header): E.Either<DecodeError, IdxArray> => {
    const type = TYPES[code];
    const count = dims.reduce((a, b) => a * b, 1);
    const dataBytes = count * type.bytes;
    const fail = (offset: number, what: string) => E.left(new DecodeError(where, [`byte ${offset}: ${what}`]));
    if (bytes.length < end) {
      const whole = Math.floor((bytes.length - headerEnd) / type.bytes);
      return fail(
        bytes.length,
        `file is truncated: dimensions [${dims.join(', ')}] need ${dataBytes} data bytes (to byte ${end}), the data stops after ${whole} of ${count} elements`,
      );
    }
    if (bytes.length > end) return fail(end, `${bytes.length - end} unexpected bytes after the last element of [${dims.join(', ')}]`);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return E.right({ file, type: type.name, dims, data: readElements(view, headerEnd, count, type.name), dataOffset: headerEnd });
  })(parseHeader(bytes, where, expect));
}

function readElements(view: DataView, offset: number, n: number, type: IdxType): IdxData {
  switch (type) {
    case 'uint8':
      return new Uint8Array(view.buffer, view.byteOffset + offset, n);
    case 'int8':
      return new Int8Array(view.buffer, view.byteOffset + offset, n);
    case 'int16':
      return Int16Array.from({ length: n }, (_, i) => view.getInt16(offset + 2 * i, false));
    case 'int32':
      return Int32Array.from({ length: n }, (_, i) => view.getInt32(offset + 4 * i, false));
    case 'float32':
      return Float32Array.from({ length: n }, (_, i) => view.getFloat32(offset + 4 * i, false));
    case 'float64':
      return Float64Array.from({ length: n }, (_, i) => view.getFloat64(offset + 8 * i, false));
  }
}

/** Reads an IDX file, plain or gzipped. Offsets in errors of a .gz file are in its decompressed bytes. */
export function readIdx(file: string, expect: IdxExpectation = {}): E.Either<DecodeError, IdxArray> {
  return pipe(
    readBytes(file),
    E.chain((bytes) =>
      pipe(
        maybeGunzip(bytes, file),
        E.chain((plain) => parseIdx(plain, file, expect, plain !== bytes)),
      ),
    ),
  );
}
