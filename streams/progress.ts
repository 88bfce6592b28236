import { SingleBar, Presets } from 'cli-progress';
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';

export interface ProgressOptions {
  readonly total: number;
  readonly label: string;
  /** Draw only when true (a terminal, not --quiet). */
  readonly enabled: boolean;
}

/**
 * Shows a progress bar with rate and ETA for a stream of events that carry `step` and
 * `loss`, passing them through unchanged.
 */
export function progressBar<T extends { step: number; loss?: number }>({ total, label, enabled }: ProgressOptions): MonoTypeOperatorFunction<T> {
  if (!enabled) return (source) => source;
  return (source) =>
    new Observable<T>((subscriber) => {
      const bar = new SingleBar(
        { format: `${label} [{bar}] {percentage}% | {value}/{total} steps | loss {loss} | {rate} steps/s | ETA {eta_formatted}`, hideCursor: true, etaBuffer: 50 },
        Presets.shades_classic,
      );
      const started = performance.now();
      bar.start(total, 0, { loss: '-', rate: '-' });
      const stop = () => bar.stop();
      const subscription = source.subscribe({
        next: (e) => {
          const rate = e.step / ((performance.now() - started) / 1000);
          bar.update(Math.min(e.step, total), { loss: e.loss === undefined ? '-' : e.loss.toPrecision(4), rate: rate.toFixed(0) });
          subscriber.next(e);
        },
        error: (err) => {
          stop();
          subscriber.error(err);
        },
        complete: () => {
          stop();
          subscriber.complete();
        },
      });
      return () => {
        subscription.unsubscribe();
        stop();
      };
    });
}
