import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import type { DecodeError } from '../codec/decode.js';
import { readFileBounded } from '../codec/readText.js';

/** Data files that are not where the loader looked: names every path tried and how to get them. */
export class MissingDataError extends Error {
  constructor(
    readonly dataset: string,
    readonly tried: readonly string[],
    readonly howToGet: string,
  ) {
    super(`${dataset}: data not found. Looked for:\n${tried.map((p) => `  ${p}`).join('\n')}\n${howToGet}`);
    this.name = 'MissingDataError';
  }
}

/** The first existing `dir/name` over all dirs × names, else the list of paths tried. */
export function findFile(dirs: readonly string[], names: readonly string[]): E.Either<readonly string[], string> {
  const tried: string[] = [];
  for (const dir of dirs) {
    for (const name of names) {
      const path = join(dir, name);
      if (existsSync(path)) return E.right(path);
      tried.push(path);
    }
  }
  return E.left(tried);
}

/** Finds every file of `names` (each under one of `dirs`, optionally gzipped), or says all that is missing. */
export function findAll(
  dataset: string,
  dirs: readonly string[],
  names: readonly string[],
  howToGet: string,
  gz = false,
): E.Either<MissingDataError, string[]> {
  const found: string[] = [];
  const tried: string[] = [];
  for (const name of names) {
    const hit = findFile(dirs, gz ? [name, `${name}.gz`] : [name]);
    if (E.isRight(hit)) found.push(hit.right);
    else tried.push(...hit.left);
  }
  return tried.length === 0 ? E.right(found) : E.left(new MissingDataError(dataset, tried, howToGet));
}

/** Largest data file read whole by default: an IDX file of 2 GiB (see IDX_MAX_BYTES) and its header. */
export const DATA_FILE_LIMIT = 2 ** 31 + 1024;

/** A data file of at most `maxBytes` bytes; larger ones, and endless devices, are refused naming the limit. */
export function readBytes(path: string, maxBytes = DATA_FILE_LIMIT, what = 'a data file'): E.Either<DecodeError, Buffer> {
  return readFileBounded(path, maxBytes, what, 'cannot read the file');
}
