import { SingleBar, Presets, type GenericFormatter } from 'cli-progress';
import { Observable, type MonoTypeOperatorFunction } from 'rxjs';
import { fitLine, formatEta, stepsTail } from '../src/experiments/progressLine.js';

/**
 * A cli-progress format that fits the stream's width: `tail` gives the text that must show
 * (from the bar's counts and ETA and the payload), `fitLine` makes room for it.
 */
export function fittedFormat(tail: (value: number, total: number, eta: string, payload: Record<string, unknown>) => string): GenericFormatter {
  return (options, params, payload: Record<string, unknown>) => {
    const label = typeof payload['label'] === 'string' ? payload['label'] : '';
    const text = tail(params.value, params.total, formatEta(params.eta), payload);
    return fitLine(label, params.progress, text, params.maxWidth, { done: options.barCompleteChar?.[0] ?? '=', todo: options.barIncompleteChar?.[0] ?? '-' });
  };
}

export interface ProgressOptions {
  readonly total: number;
  readonly label: string;
  /** Draw only when true (a terminal, not --quiet). */
  readonly enabled: boolean;
  /** Where to draw (default stderr); the line fits its `columns`. */
  readonly stream?: NodeJS.WritableStream;
}

/**
 * Shows a progress line (label, bar, steps, loss, rate, ETA; fitted to the terminal's width)
 * for a stream of events that carry `step` and `loss`, passing them through unchanged.
 */
export function progressBar<T extends { step: number; loss?: number }>({ total, label, enabled, stream }: ProgressOptions): MonoTypeOperatorFunction<T> {
  if (!enabled) return (source) => source;
  return (source) =>
    new Observable<T>((subscriber) => {
      const bar = new SingleBar({ format: fittedFormat(stepsTail), hideCursor: true, etaBuffer: 50, ...(stream ? { stream } : {}) }, Presets.shades_classic);
      const started = performance.now();
      bar.start(total, 0, { label, loss: '-', rate: '-' });
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
