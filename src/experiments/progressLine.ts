import { formatDuration } from './eta.js';

const MAX_BAR = 30;
const MIN_BAR = 8;

/** A duration in seconds as progress lines show it: `42s`, `3m05s`, `1h02m`; `-` while unknown. */
export function formatEta(seconds: number): string {
  return Number.isFinite(seconds) && seconds >= 0 ? formatDuration(1000 * seconds) : '-';
}

/**
 * `label [bar] tail` in at most `width - 1` columns (the last column would wrap on some
 * terminals). The tail (counts, loss, rate, ETA) always shows: the bar shrinks first, then the
 * label, then both go; a tail wider than the line is cut at its end.
 */
export function fitLine(label: string, progress: number, tail: string, width: number, chars = { done: '=', todo: '-' }): string {
  const room = Math.max(0, width - 1);
  if (tail.length >= room) return tail.slice(0, room);
  const free = room - tail.length - 1; // one space before the tail
  const share = Math.min(1, Math.max(0, Number.isFinite(progress) ? progress : 0));
  const bar = (size: number) => `[${chars.done.repeat(Math.round(share * size))}${chars.todo.repeat(size - Math.round(share * size))}]`;
  const withLabel = free - label.length - 1;
  if (label.length > 0 && withLabel >= MIN_BAR + 2) return `${label} ${bar(Math.min(MAX_BAR, withLabel - 2))} ${tail}`;
  if (label.length === 0 && free >= MIN_BAR + 2) return `${bar(Math.min(MAX_BAR, free - 2))} ${tail}`;
  // Too narrow for the whole label with a useful bar: the label, shortened, keeps its start.
  const labelRoom = free - (MIN_BAR + 2) - 1;
  if (labelRoom >= 4) return `${label.slice(0, labelRoom - 1)}… ${bar(MIN_BAR)} ${tail}`;
  if (free >= MIN_BAR + 2) return `${bar(Math.min(MAX_BAR, free - 2))} ${tail}`;
  return tail;
}

/**
 * The tail of a training progress line, `45% 4500/10000 loss 0.2345 1234 steps/s ETA 3m05s`,
 * its numbers padded so that the bar keeps its width from one redraw to the next.
 */
export const stepsTail = (value: number, total: number, eta: string, payload: Readonly<Record<string, unknown>>): string => {
  const pct = String(total > 0 ? Math.floor((100 * value) / total) : 0).padStart(3);
  const count = `${String(value).padStart(String(total).length)}/${total}`;
  const loss = String(payload['loss'] ?? '-').padEnd(6);
  return `${pct}% ${count} loss ${loss} ${String(payload['rate'] ?? '-').padStart(4)} steps/s ETA ${eta.padEnd(5)}`;
};
