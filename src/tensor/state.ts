import * as tf from '@tensorflow/tfjs';

/**
 * The state of an optimizer or guard: named tensors and numbers, nested records allowed.
 * Plain data, so it can be disposed, compared and saved without knowing its owner.
 */
export type StateValue = tf.Tensor | number | string | boolean | null | StateRecord | readonly StateValue[];
export interface StateRecord {
  readonly [key: string]: StateValue;
}

/** Every tensor reachable from a state value. */
export function tensorsOf(value: unknown, out: tf.Tensor[] = []): tf.Tensor[] {
  if (value instanceof tf.Tensor) out.push(value);
  else if (Array.isArray(value)) for (const v of value) tensorsOf(v, out);
  else if (value !== null && typeof value === 'object') for (const v of Object.values(value)) tensorsOf(v, out);
  return out;
}

/** Disposes every tensor of `previous` that `next` does not hold: ownership passes to `next`. */
export function disposeReplaced(previous: unknown, next: unknown): void {
  const kept = new Set(tensorsOf(next));
  for (const t of tensorsOf(previous)) if (!kept.has(t) && !t.isDisposed) t.dispose();
}

export function disposeAll(value: unknown): void {
  for (const t of tensorsOf(value)) if (!t.isDisposed) t.dispose();
}

/** Keeps every tensor of a value alive outside the enclosing `tf.tidy`. */
export function keepAll<T>(value: T): T {
  for (const t of tensorsOf(value)) tf.keep(t);
  return value;
}

/** Like `tf.tidy` for any result shape: tensors reachable from the result survive, the rest are freed. */
export function tidyState<T>(fn: () => T): T {
  let out: T | undefined;
  tf.tidy(() => {
    out = keepAll(fn());
  });
  return out as T;
}
