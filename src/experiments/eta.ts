/** Where one run of an experiment stands. */
export interface RunProgress {
  /** Runs of the same kind (entry) are assumed to cost the same per step. */
  readonly kind: string;
  readonly total: number;
  readonly done: number;
  readonly elapsedMs: number;
  readonly state: 'queued' | 'running' | 'done';
}

/** Milliseconds per step of each kind, from the runs that have taken steps. */
export function ratesByKind(runs: readonly RunProgress[]): Map<string, number> {
  const acc = new Map<string, { ms: number; steps: number }>();
  for (const r of runs) {
    if (r.done <= 0 || r.elapsedMs <= 0) continue;
    const a = acc.get(r.kind) ?? { ms: 0, steps: 0 };
    acc.set(r.kind, { ms: a.ms + r.elapsedMs, steps: a.steps + r.done });
  }
  return new Map([...acc].map(([k, a]) => [k, a.ms / a.steps]));
}

/**
 * Time left, in ms, for `jobs` workers: the running runs finish their remaining steps, then
 * the queued ones go, in order, to the first worker free (as the runner schedules them).
 * A kind not yet measured is assumed as slow as the slowest measured kind; undefined while
 * nothing is measured.
 */
export function etaMs(runs: readonly RunProgress[], jobs: number): { etaMs: number; workDoneShare: number } | undefined {
  const rates = ratesByKind(runs);
  if (rates.size === 0) return undefined;
  const slowest = Math.max(...rates.values());
  const rate = (kind: string) => rates.get(kind) ?? slowest;
  const workers: number[] = runs.filter((r) => r.state === 'running').map((r) => Math.max(0, r.total - r.done) * rate(r.kind));
  while (workers.length < jobs) workers.push(0);
  let total = 0;
  let done = 0;
  for (const r of runs) {
    total += r.total * rate(r.kind);
    done += Math.min(r.done, r.total) * rate(r.kind);
  }
  for (const r of runs.filter((x) => x.state === 'queued')) {
    workers.sort((a, b) => a - b);
    workers[0]! += Math.max(0, r.total - r.done) * rate(r.kind);
  }
  return { etaMs: Math.max(...workers), workDoneShare: total > 0 ? done / total : 1 };
}

/** 1h02m, 3m05s, 42s. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
