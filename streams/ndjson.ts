import { closeSync, constants, fstatSync, fsyncSync, ftruncateSync, lstatSync, openSync, writeSync } from 'node:fs';
import { Observable, tap, type MonoTypeOperatorFunction } from 'rxjs';
import { asWriteError, codeOf, UnsafePathError } from '../src/runs/fileErrors.js';

/** Opens the log as a plain file with one name, never through a planted link (as jobs/files.ts does for every other file). */
function openLog(path: string, append: boolean): number {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) throw new UnsafePathError(path, 'is a symbolic link');
    if (!st.isFile()) throw new UnsafePathError(path, 'is not a regular file');
    if (st.nlink > 1) throw new UnsafePathError(path, `is a hard link (one of ${st.nlink} names of one file)`);
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw asWriteError(path, err);
  }
  try {
    return openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (append ? constants.O_APPEND : constants.O_TRUNC), 0o644);
  } catch (err) {
    throw asWriteError(path, err);
  }
}

/** Rounds a number for the log: float32 precision is all the run has. */
function compact(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value) ? Number(value.toPrecision(7)) : value;
}

export function toNdjsonLine(value: unknown): string {
  return `${JSON.stringify(value, compact)}\n`;
}

export interface NdjsonOptions {
  /** Append to an existing file instead of replacing it. */
  readonly append?: boolean;
  /** Flush to disk after this many lines (and always on `sync` and `close`). */
  readonly syncEvery?: number;
}

/**
 * An append-only NDJSON file that knows its length in bytes and lines, so a checkpoint can
 * record exactly where the log stood. Each line goes out in one write call.
 */
export class NdjsonWriter {
  private fd: number | undefined;
  private unsynced = 0;
  private readonly syncEvery: number;
  bytes: number;
  lines = 0;

  constructor(
    readonly path: string,
    { append = false, syncEvery = 100 }: NdjsonOptions = {},
  ) {
    this.syncEvery = syncEvery;
    this.fd = openLog(path, append);
    this.bytes = fstatSync(this.fd).size;
  }

  write(value: unknown): void {
    if (this.fd === undefined) throw new Error(`${this.path}: written after close`);
    const line = Buffer.from(toNdjsonLine(value));
    try {
      let done = 0;
      while (done < line.length) done += writeSync(this.fd, line, done, line.length - done);
    } catch (err) {
      // A line cut short (a full disk) is taken back, so the file holds whole lines only.
      try {
        ftruncateSync(this.fd, this.bytes);
      } catch {
        // the log's own checkpoint still records where it stood
      }
      throw asWriteError(this.path, err);
    }
    this.bytes += line.length;
    this.lines += 1;
    if (++this.unsynced >= this.syncEvery) this.sync();
  }

  /** Flushes every written line to disk. */
  sync(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    this.unsynced = 0;
  }

  close(): void {
    if (this.fd === undefined) return;
    this.sync();
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Appends every value as one JSON line to `path` (passing values through), flushing to disk
 * every `syncEvery` lines and at the end so that an interrupted run loses no written line.
 */
export function ndjsonSink<T>(path: string, options: NdjsonOptions = {}): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const writer = new NdjsonWriter(path, options);
      const subscription = source.subscribe({
        next: (value) => {
          writer.write(value);
          subscriber.next(value);
        },
        error: (err) => {
          writer.close();
          subscriber.error(err);
        },
        complete: () => {
          writer.close();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        writer.close();
      };
    });
}

/** Writes the values `keep` selects as lines of an open writer, passing every value through; the caller closes it. */
export function ndjsonLines<T>(writer: NdjsonWriter, keep: (value: T) => boolean = () => true): MonoTypeOperatorFunction<T> {
  return tap((value) => {
    if (keep(value)) writer.write(value);
  });
}
