import * as tf from '@tensorflow/tfjs';

/** What `model.fit` accepts as callbacks: callback objects, plain hook records, or arrays of either. */
export type FitCallbacks = tf.ModelFitArgs['callbacks'];
export type Logs = Record<string, number>;
type Callback = tf.CallbackList['callbacks'][number];

const isCallback = (c: unknown): c is Callback => {
  const hooks = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
  return typeof hooks['setModel'] === 'function' && typeof hooks['setParams'] === 'function';
};

/** fit's callbacks as one list, with a `tf.History` last (as fit orders them). */
export function callbackList(callbacks: FitCallbacks, history: tf.History): tf.CallbackList {
  const given: unknown[] = callbacks === undefined ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
  const list = given.map((c, i) => {
    if (isCallback(c)) return c;
    if (typeof c === 'object' && c !== null) return new tf.CustomCallback(c as tf.CustomCallbackArgs);
    throw new TypeError(`callbacks[${i}]: expected a tf.Callback or an object of hooks (onBatchEnd, onEpochEnd, …), got ${String(c)}`);
  });
  return new tf.CallbackList([...list, history]);
}

/** Means of the rounds' logs over an epoch, weighted by the examples each trained on (as fit's BaseLogger). */
export class EpochMeans {
  private totals = new Map<string, number>();
  private seen = 0;
  private last: { logs: Logs; size: number } | null = null;

  add(logs: Logs, size: number): void {
    for (const [key, value] of Object.entries(logs)) this.totals.set(key, (this.totals.get(key) ?? 0) + value * size);
    this.seen += size;
    this.last = { logs, size };
  }

  /** The epoch's means; an epoch that one long round closed without a round of its own takes that round's logs. */
  means(): Logs {
    if (this.seen === 0 && this.last !== null) return { ...this.last.logs };
    const out: Logs = {};
    for (const [key, total] of this.totals) out[key] = total / this.seen;
    return out;
  }

  reset(): void {
    this.totals = new Map();
    this.seen = 0;
  }
}

const format = (v: number) => (v === 0 || (Math.abs(v) >= 1e-3 && Math.abs(v) < 1e4) ? v.toFixed(4) : v.toExponential(3));

/** The line `verbose: 1` prints after each epoch. */
export function epochLine(epoch: number, epochs: number, ms: number, logs: Logs): string {
  const fields = Object.entries(logs).map(([key, value]) => `${key}=${format(value)}`);
  return [`Epoch ${epoch + 1}/${epochs}`, `${(ms / 1000).toFixed(1)}s`, ...fields].join(' · ');
}
