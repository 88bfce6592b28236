import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import { etaMs, formatDuration, type RunProgress } from '../../src/experiments/eta.js';
import { stepsTail } from '../../src/experiments/progressLine.js';
import { fittedFormat } from '../../streams/progress.js';

/** What the display needs of each run. */
export interface RunView extends RunProgress {
  readonly id: string;
  readonly loss?: number;
}

export interface ProgressDisplay {
  /** Redraws from the current state of every run. */
  update(runs: readonly RunView[]): void;
  /** A line above the bars (or on stderr when there are no bars). */
  log(line: string): void;
  stop(): void;
}

function totalLine(runs: readonly RunView[], jobs: number, startedAt: number): { share: number; text: string } {
  const finished = runs.filter((r) => r.state === 'done').length;
  const eta = etaMs(runs, jobs);
  const elapsed = formatDuration(performance.now() - startedAt);
  const share = eta?.workDoneShare ?? finished / runs.length;
  return { share, text: `${finished}/${runs.length} runs | elapsed ${elapsed} | ETA ${eta ? formatDuration(eta.etaMs) : '…'}` };
}

/**
 * One bar per running run plus a total bar whose ETA simulates the remaining schedule
 * (src/experiments/eta.ts). Without a terminal, plain lines: each run's start and end
 * (logged by the runner) and the total every `everyMs`.
 */
export function progressDisplay({ enabled, jobs, everyMs = 60_000 }: { enabled: boolean; jobs: number; everyMs?: number }): ProgressDisplay {
  const startedAt = performance.now();
  if (!enabled) {
    let lastLine = performance.now();
    return {
      update(runs) {
        if (performance.now() - lastLine < everyMs) return;
        lastLine = performance.now();
        const { share, text } = totalLine(runs, jobs, startedAt);
        process.stderr.write(`experiment: ${(100 * share).toFixed(1)}% | ${text}\n`);
      },
      log: (line) => process.stderr.write(`${line}\n`),
      stop: () => undefined,
    };
  }
  const multi = new MultiBar({ format: fittedFormat(stepsTail), hideCursor: true, clearOnComplete: false }, Presets.shades_classic);
  const totalTail = (value: number, all: number, _eta: string, p: Record<string, unknown>) => `${Math.floor((100 * value) / all)}% ${String(p['text'])}`;
  const total = multi.create(1000, 0, { label: 'total', loss: '-', rate: '-' }, { format: fittedFormat(totalTail) });
  const bars = new Map<string, SingleBar>();
  return {
    update(runs) {
      for (const r of runs) {
        const bar = bars.get(r.id);
        if (r.state === 'running') {
          const rate = r.elapsedMs > 0 ? ((1000 * r.done) / r.elapsedMs).toFixed(0) : '-';
          const payload = { label: r.id, loss: r.loss === undefined ? '-' : r.loss.toPrecision(4), rate };
          if (bar) bar.update(Math.min(r.done, r.total), payload);
          else bars.set(r.id, multi.create(r.total, Math.min(r.done, r.total), payload));
        } else if (bar) {
          multi.remove(bar);
          bars.delete(r.id);
        }
      }
      const { share, text } = totalLine(runs, jobs, startedAt);
      total.update(Math.round(1000 * share), { label: 'total', text });
    },
    log: (line) => multi.log(`${line}\n`),
    stop: () => multi.stop(),
  };
}
