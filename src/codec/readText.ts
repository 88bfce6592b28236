import * as E from 'fp-ts/lib/Either.js';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DecodeError } from './decode.js';

/**
 * Largest files read whole, by kind: a config is a few hundred bytes, the shipped learned
 * optimizer 107 KB; a run checkpoint grows with the model. Above V8's longest string (about
 * 512 MiB) nothing could be parsed anyway.
 */
export const READ_LIMITS = {
  config: 16 * 1024 * 1024,
  l2o: 256 * 1024 * 1024,
  run: 512 * 1024 * 1024 - 64,
} as const;

const CHUNK = 1024 * 1024;

/**
 * Reads a file of at most `maxBytes` bytes: a regular file over the limit is refused from its
 * size; a device or pipe that never ends (`/dev/zero`) is read in chunks and refused once the
 * limit is passed, before more is held. Errors name the file, what it was read as and the limit.
 */
export function readFileBounded(path: string, maxBytes: number, what: string, cannot = 'cannot read'): E.Either<DecodeError, Buffer> {
  const tooBig = () => E.left(new DecodeError(path, [`more than ${maxBytes} bytes, the limit for ${what}; is it the right file?`]));
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return E.left(new DecodeError(path, [`${cannot} (${err instanceof Error ? err.message : String(err)})`]));
  }
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    const stat = fstatSync(fd);
    if (stat.isFile() && stat.size > maxBytes) return tooBig();
    for (;;) {
      const buffer = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const n = readSync(fd, buffer, 0, buffer.length, null);
      if (n === 0) break;
      total += n;
      chunks.push(buffer.subarray(0, n));
      if (total > maxBytes) return tooBig();
    }
  } catch (err) {
    return E.left(new DecodeError(path, [`${cannot} (${err instanceof Error ? err.message : String(err)})`]));
  } finally {
    closeSync(fd);
  }
  return E.right(Buffer.concat(chunks, total));
}

/** A UTF-8 text file of at most `maxBytes` bytes (see `readFileBounded`). */
export function readTextFile(path: string, maxBytes: number, what: string): E.Either<DecodeError, string> {
  return E.map((bytes: Buffer) => bytes.toString('utf8'))(readFileBounded(path, maxBytes, what));
}
