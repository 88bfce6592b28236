import { Writable } from 'node:stream';
import { lastValueFrom, from, concatMap, delay, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { progressBar } from '../streams/progress.js';
import { fitLine, formatEta, stepsTail } from '../src/experiments/progressLine.js';

/** A terminal of `columns` columns that keeps every line cli-progress draws (escape codes dropped). */
class FakeTerminal extends Writable {
  readonly isTTY = true;
  readonly lines: string[] = [];
  constructor(readonly columns: number) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: () => void): void {
    // eslint-disable-next-line no-control-regex
    const text = chunk.toString().replace(/\x1B(\[[0-9;?]*[A-Za-z]|[78])/g, '');
    for (const line of text.split(/[\r\n]/)) if (line.length > 0) this.lines.push(line);
    done();
  }
}

const TAIL = '45% 4500/10000 loss 0.2345 1234 steps/s ETA 3m05s';

describe('stepsTail', () => {
  it('pads the numbers to the widths of their largest values', () => {
    expect(stepsTail(7, 10_000, '3s', { loss: '0.5', rate: '12' })).toBe('  0%     7/10000 loss 0.5      12 steps/s ETA 3s   ');
    expect(stepsTail(10_000, 10_000, '0s', { loss: '0.05000', rate: '350' })).toBe('100% 10000/10000 loss 0.05000  350 steps/s ETA 0s   ');
    expect(stepsTail(0, 10, '-', {})).toBe('  0%  0/10 loss -         - steps/s ETA -    ');
  });
});

describe('fitLine', () => {
  it('keeps the whole tail and fills at most width - 1 columns, shrinking the bar, then the label', () => {
    for (const width of [80, 70, 60, 52, 51, 40]) {
      const line = fitLine('mlp-mnist lgl2o seed 3', 0.45, TAIL, width);
      expect(line.length).toBeLessThanOrEqual(width - 1);
      if (width - 1 > TAIL.length) expect(line.endsWith(TAIL)).toBe(true);
    }
    // Wide: label, a 30-column bar 45% full (round(13.5) = 14 marks), the tail.
    expect(fitLine('run', 0.45, TAIL, 200)).toBe(`run [${'='.repeat(14)}${'-'.repeat(16)}] ${TAIL}`);
    // 80 columns: 79 - 49 (tail) - 1 - 4 ("run ") - 2 (brackets) = a 23-column bar.
    expect(fitLine('run', 1, TAIL, 80)).toBe(`run [${'='.repeat(23)}] ${TAIL}`);
    // A long label gives way to an 8-column bar, keeping its start.
    const long = fitLine('a-very-long-experiment-label-for-this-run', 0, TAIL, 80);
    expect(long).toBe(`a-very-long-exper… [--------] ${TAIL}`);
    expect(long.length).toBe(79);
    // Narrower than the tail: the tail's start.
    expect(fitLine('run', 0.5, TAIL, 21)).toBe(TAIL.slice(0, 20));
  });

  it('formats ETAs in seconds as the experiment display does, and unknown ones as -', () => {
    expect([formatEta(42), formatEta(185), formatEta(3720), formatEta(Number.NaN), formatEta(Infinity)]).toEqual(['42s', '3m05s', '1h02m', '-', '-']);
  });
});

describe('progressBar', () => {
  it('draws lines that fit an 80-column terminal and show loss, rate and ETA', async () => {
    const terminal = new FakeTerminal(80);
    // 10 steps every ≥ 5 ms: at most 2 000 steps/s, a rate of at most 4 digits (as padded).
    const events = Array.from({ length: 40 }, (_, i) => ({ step: 10 * (i + 1), loss: 2 / (i + 1) }));
    const label = 'mlp-mnist lgl2o k=10 m=10 seed 4 (a label longer than usual)';
    await lastValueFrom(
      from(events).pipe(
        concatMap((e) => of(e).pipe(delay(5))),
        progressBar({ total: 400, label, enabled: true, stream: terminal }),
      ),
    );
    expect(terminal.lines.length).toBeGreaterThan(1);
    for (const line of terminal.lines) expect(line.length).toBeLessThanOrEqual(79);
    const last = terminal.lines.at(-1)!;
    expect(last).toMatch(/^mlp-mnist .*… \[█+\] 100% 400\/400 loss 0\.05000 +\d+ steps\/s ETA \d+s *$/);
    // Padded numbers: the bar keeps its width while the counts, loss and rate change.
    const bars = new Set(terminal.lines.map((l) => /\[[^\]]*\]/.exec(l)?.[0].length));
    expect(bars.size).toBe(1);
  });
});
