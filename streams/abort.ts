import { fromEvent, NEVER, of, take, type Observable } from 'rxjs';

/** Emits once when `signal` aborts (at once if it already has); never without a signal. For `takeUntil`. */
export function aborted(signal: AbortSignal | undefined): Observable<unknown> {
  if (signal === undefined) return NEVER;
  return signal.aborted ? of(signal.reason) : fromEvent(signal, 'abort').pipe(take(1));
}
