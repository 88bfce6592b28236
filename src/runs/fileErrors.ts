/**
 * Why a write into an output directory was refused or failed, as values the entry points map
 * to exit codes: a planted link or non-file (UnsafePathError), a system error such as a full
 * disk (WriteError). The writes themselves live in jobs/files.ts and streams/ndjson.ts.
 */

/** A file in an output directory that lgl2o refuses to write (a link, a directory, a device...). */
export class UnsafePathError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}; lgl2o never writes through it: remove it and try again`);
    this.name = 'UnsafePathError';
  }
}

/** A write that the system refused (disk full, read-only, quota...), naming the path. */
export class WriteError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
    detail: string,
  ) {
    super(code === 'ENOSPC' || code === 'EDQUOT' ? `${path}: cannot write, the disk is full (${code})` : `${path}: cannot write (${detail})`);
    this.name = 'WriteError';
  }
}

export const codeOf = (err: unknown): string | undefined =>
  err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string' ? (err as NodeJS.ErrnoException).code : undefined;

export function asWriteError(path: string, err: unknown): Error {
  if (err instanceof UnsafePathError || err instanceof WriteError) return err;
  const code = codeOf(err);
  if (code === 'ELOOP') return new UnsafePathError(path, 'is a symbolic link');
  if (code === undefined) return err instanceof Error ? err : new Error(String(err));
  return new WriteError(path, code, err instanceof Error ? err.message : String(err));
}
