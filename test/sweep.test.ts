import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { Results } from '../src/experiments/claims.js';
import type { RunResult } from '../src/experiments/curves.js';
import { findSetting } from '../src/experiments/settings.js';
import { gridFromFile, gridPoints, parseGridSpecs, pointId, rankSweep, sweepTable } from '../src/experiments/sweep.js';
import { cliInProcess } from './cliProcess.js';

const left = (e: E.Either<Error, unknown>) => (E.isLeft(e) ? e.left.message : 'no error');

describe('sweep grids', () => {
  it('reads KEY=V1,V2 specs into axes of numbers, choices and switches, and every combination', () => {
    const grid = parseGridSpecs(['k=5,10,20', 'm=5,10', 'decision=paired', 'anchor=true,false']);
    expect(E.isRight(grid) && grid.right).toEqual([
      ['k', [5, 10, 20]],
      ['m', [5, 10]],
      ['decision', ['paired']],
      ['anchor', [true, false]],
    ]);
    const points = gridPoints(E.isRight(grid) ? grid.right : []);
    expect(points).toHaveLength(3 * 2 * 2);
    expect(points.map(pointId).slice(0, 3)).toEqual([
      'k=5,m=5,decision=paired,anchor=true',
      'k=5,m=5,decision=paired,anchor=false',
      'k=5,m=10,decision=paired,anchor=true',
    ]);
    expect(new Set(points.map(pointId)).size).toBe(12);
  });
  it('names the spec at fault', () => {
    expect(left(parseGridSpecs(['k5']))).toBe('--grid k5: expected KEY=V1,V2,... (e.g. k=5,10,20)');
    expect(left(parseGridSpecs(['k=5,,10']))).toBe('--grid k=5,,10: an empty value');
    expect(left(parseGridSpecs(['k=5', 'k=10']))).toBe('--grid k=10: k is given twice');
    expect(left(parseGridSpecs(['k=5,5']))).toBe('--grid k=5,5: a value is repeated');
    expect(left(parseGridSpecs([]))).toBe('--grid: no setting to sweep');
    expect(left(gridFromFile({ k: [] }, 'g.json'))).toBe('g.json: k=: expected KEY=V1,V2,... (e.g. k=5,10,20)');
    expect(E.isRight(gridFromFile({ k: [5, 10], lr: [0.1] }, 'g.json'))).toBe(true);
  });
});

describe('sweep ranking', () => {
  const setting = (() => {
    const s = findSetting('mlp-spirals');
    if (E.isLeft(s)) throw s.left;
    return s.right;
  })();
  const run = (entry: string, seed: number, final: number, status: RunResult['status'] = 'finished'): RunResult => ({
    entry,
    seed,
    status,
    wallMs: 1,
    log: {
      evals:
        status === 'diverged'
          ? [{ step: 50, loss: 1 }]
          : [
              { step: 50, loss: 9 },
              { step: 100, loss: final },
            ],
      rounds: [],
      lastStep: 100,
      elapsedMs: 1,
    },
  });
  it('ranks by the mean final loss over seeds (sd with n − 1); a diverged seed ranks its setting last', () => {
    const results: Results = {
      setting,
      horizon: 100,
      grid: [50, 100],
      runs: new Map([
        ['k=5', [run('k=5', 0, 0.5), run('k=5', 1, 0.7)]],
        ['k=10', [run('k=10', 0, 0.2), run('k=10', 1, 0.4)]],
        ['k=20', [run('k=20', 0, 0.1), run('k=20', 1, 0, 'diverged')]],
      ]),
    };
    const rows = rankSweep(results);
    expect(rows.map((r) => [r.rank, r.setting])).toEqual([
      [1, 'k=10'],
      [2, 'k=5'],
      [3, 'k=20'],
    ]);
    expect(rows[0]!.mean).toBeCloseTo(0.3, 12);
    expect(rows[0]!.sd).toBeCloseTo(Math.SQRT2 * 0.1, 12); // |0.2 − 0.4| / √2
    expect(rows[2]).toMatchObject({ mean: Infinity, best: 0.1, worst: Infinity, diverged: 1 });
    expect(sweepTable(rows, 100).split('\n')[2]).toBe('| 1 | k=10 | 0.3000 ± 0.1414 | 0.2000 | 0.4000 | 2 | 0 |');
  });
});

describe('lgl2o sweep: bad input', () => {
  it('refuses unknown keys, ill-typed values and a missing grid, naming them', async () => {
    const cases: [string[], RegExp][] = [
      [['--grid', 'q=1,2'], /--grid q: not a setting a sweep can vary \(known: lr, tau/],
      [['--grid', 'k=1.5'], /--grid k=1.5: expected an integer/],
      [['--grid', 'decision=maybe'], /--grid decision=maybe: expected one of strict, paired/],
      // several settings after one --grid, as its help shows them: each spec is read (not refused as a repeated flag)
      [['--grid', 'k=5', 'm=x'], /--grid m=x: expected an integer/],
      [[], /give the grid with either --grid/],
      [['--grid', 'k=5', '--queue', 'redis://:hunter2@h:x'], /--queue redis:\/\/:\*\*\*@h:x: not a URL/],
    ];
    for (const [args, message] of cases) {
      const r = await cliInProcess(['sweep', '--task', 'mlp-spirals', '--steps', '10', ...args]);
      expect([r.code, r.stderr]).toEqual([2, expect.stringMatching(message)]);
      expect(r.stderr).not.toContain('hunter2');
    }
  });
});
