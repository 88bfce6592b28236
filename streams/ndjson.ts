import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';

/** Rounds a number for the log: float32 precision is all the run has. */
function compact(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) && Number.isFinite(value) ? Number(value.toPrecision(7)) : value;
}

export function toNdjsonLine(value: unknown): string {
  return `${JSON.stringify(value, compact)}\n`;
}

/**
 * Appends every value as one JSON line to `path` (passing values through), flushing to disk
 * every `syncEvery` lines and at the end so that an interrupted run loses no written line.
 */
export function ndjsonSink<T>(path: string, { append = false, syncEvery = 100 } = {}): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const fd = openSync(path, append ? 'a' : 'w');
      let unsynced = 0;
      let open = true;
      const close = () => {
        if (!open) return;
        open = false;
        fsyncSync(fd);
        closeSync(fd);
      };
      const subscription = source.subscribe({
        next: (value) => {
          writeSync(fd, toNdjsonLine(value));
          if (++unsynced >= syncEvery) {
            fsyncSync(fd);
            unsynced = 0;
          }
          subscriber.next(value);
        },
        error: (err) => {
          close();
          subscriber.error(err);
        },
        complete: () => {
          close();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        close();
      };
    });
}
