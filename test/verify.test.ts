import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { erase } from '../src/optim/optimizer.js';
import { adam } from '../src/optim/adam.js';
import { sgd } from '../src/optim/sgd.js';
import { buildLearned } from '../src/config/build.js';
import { checkTheoryCase, theoryProblem, type TheoryCase } from '../src/verify/theory.js';
import { verifyTheory } from '../src/verify/property.js';
import { claimsFor } from '../src/verify/claims.js';
import type { GuardView } from '../src/verify/guardClaim.js';
import { rollout } from '../src/guard/rollout.js';
import { batchLosses, type RoundOptimizer } from '../src/guard/round.js';
import type { AnyOptimizer } from '../src/optim/optimizer.js';
import { disposeReplaced } from '../src/tensor/state.js';

const gd = (scale: number) => (L: number) => erase(sgd({ lr: scale / L }));
const adamFallback = (L: number) => erase(adam({ lr: 1 / L }));
/** An optimizer that stays where it is (sgd refuses lr = 0). */
const standStill = erase({ name: 'stand-still', init: () => ({}), step: (x: tf.Tensor1D) => [x.clone(), {}] as const });
const learnedOf = (checkpoint: string) => {
  const l = buildLearned({ type: 'l2o', checkpoint });
  if (E.isLeft(l)) throw l.left;
  return l.right;
};
const randomL2O = () => learnedOf('random:1');

/**
 * A guard with k = m = 1 written out from rollouts, keeping the better candidate or, broken, the
 * worse one (ties: the fallback's); both optimizers keep their own states, like lossGuard's default.
 */
function pickGuard(keep: 'better' | 'worse') {
  return (learned: AnyOptimizer, fallback: AnyOptimizer): RoundOptimizer<GuardView> => ({
    name: `keeps-the-${keep}`,
    init: (x) => ({ x: x.clone(), step: 0, learned: learned.init(x), fallback: fallback.init(x) }),
    batchesNeeded: () => 2,
    round: (objective, s, [train, compare]) => {
      const l = rollout(objective, learned, { x: s.x, opt: s.learned }, [train!]);
      const g = rollout(objective, fallback, { x: s.x, opt: s.fallback }, [train!]);
      const [fl] = batchLosses(objective, l.x, [compare!]);
      const [fg] = batchLosses(objective, g.x, [compare!]);
      const learnedBetter = fl! < fg!;
      const chosen = learnedBetter === (keep === 'better') ? l : g;
      const next: GuardView = { x: chosen.x, step: s.step + 1, learned: l.opt, fallback: g.opt };
      disposeReplaced([l, g], [next, s]);
      return E.right([next, { steps: 1, loss: chosen === l ? fl! : fg!, winner: chosen === l ? 'learned' : 'fallback' }] as const);
    },
  });
}

/** Gradient descent with step 0.1 whose step size changes with every call: the same state and gradient give different steps. */
function drifting(): AnyOptimizer {
  let calls = 0;
  return erase({
    name: 'drifting',
    init: () => ({}),
    step: (x: tf.Tensor1D, g: tf.Tensor1D) => [tf.tidy(() => x.sub(g.mul(0.1 * (1 + 1e-3 * calls++)))), {}] as const,
  });
}

describe('checkTheoryCase', () => {
  it('follows the closed form of gradient descent on a one-dimensional quadratic', () => {
    // f(x) = ½ μ (x − x*)², μ = L/κ = 0.5: a step 1/L multiplies x − x* by 1 − μ/L = 0.75.
    const c: TheoryCase = { dim: 1, L: 2, kappa: 4, seed: 5 };
    const r = checkTheoryCase(c, { learned: standStill, fallback: gd(1), steps: 10 });
    if (E.isLeft(r)) throw new Error(r.left.message);
    expect(r.right.informativeSteps).toBe(10);
    expect(r.right.learnedWins).toBe(0);
    expect(r.right.gapRatio).toBeCloseTo(0.75 ** 20, 6);
    expect(r.right.boundRatio).toBeCloseTo(0.75 ** 10, 12);
  });

  it('reports the descent violation of a fallback step 1.5/L with the hand-worked numbers', () => {
    // κ = 1: f(x) = ½ L e², ‖∇f‖²/(2L) = f, so the claim is f(x_1) ≤ 0; the step leaves e/2 and f/4.
    const c: TheoryCase = { dim: 1, L: 3, kappa: 1, seed: 11 };
    const { q, rng } = theoryProblem(c);
    const x0 = q.init(rng);
    const e0 = x0.dataSync()[0]! - q.minimum[0]!;
    const f0 = 0.5 * 3 * e0 * e0;
    tf.dispose(x0);
    q.dispose();
    const r = checkTheoryCase(c, { learned: standStill, fallback: gd(1.5), steps: 10 });
    if (E.isRight(r)) throw new Error('expected a violation');
    expect(r.left.claim).toBe('descent');
    expect(r.left.step).toBe(0);
    expect(r.left.lhs / f0).toBeCloseTo(0.25, 5);
    expect(Math.abs(r.left.rhs)).toBeLessThan(1e-6 * f0);
    expect(r.left.tolerance).toBeLessThan(1e-3 * r.left.lhs); // float32 slack far below the violation
  });
});

describe('the guard claim', () => {
  // κ = 1, dim 1: f(x) = ½ L e², and gradient descent with step 1/L lands on x* (f = 0).
  const c: TheoryCase = { dim: 1, L: 3, kappa: 1, seed: 11 };
  const f0 = () => {
    const { q, rng } = theoryProblem(c);
    const x0 = q.init(rng);
    const f = q.exactLoss(Float32Array.from(x0.dataSync()));
    tf.dispose(x0);
    q.dispose();
    return f;
  };

  it('fails for a guard that keeps the worse candidate, with the hand-worked numbers, and holds for the same guard keeping the better', () => {
    const opts = { learned: standStill, fallback: gd(1), steps: 10, claims: ['guard'] as const };
    const broken = checkTheoryCase(c, { ...opts, guard: pickGuard('worse') });
    if (E.isRight(broken)) throw new Error('expected a violation');
    // It stays at x_0 while the fallback's step reaches x*: f(x_1) = f(x_0) against f(y_0) ≈ 0.
    expect(broken.left).toMatchObject({ claim: 'guard', step: 0 });
    expect(broken.left.lhs).toBeCloseTo(f0(), 12);
    expect(Math.abs(broken.left.rhs)).toBeLessThan(1e-6 * f0());
    expect(broken.left.message).toMatch(/f\(x_1\) = .* > f\(y_0\) = .*fallback's step from x_0 \(kept: learned\)/);
    expect(E.isRight(checkTheoryCase(c, { ...opts, guard: pickGuard('better') }))).toBe(true);
  });

  it('fails for a learned optimizer whose step changes from call to call, and holds for the same step kept fixed', () => {
    const fixed = erase(sgd({ lr: 0.1 }));
    const r = checkTheoryCase(c, { learned: drifting(), fallback: adamFallback, steps: 10, claims: ['guard'] });
    if (E.isRight(r)) throw new Error('expected a violation');
    expect(r.left).toMatchObject({ claim: 'guard', step: 0 });
    expect(r.left.message).toMatch(/not deterministic: two replays from the same state and gradient differ in coordinate 0/);
    expect(E.isRight(checkTheoryCase(c, { learned: fixed, fallback: adamFallback, steps: 10, claims: ['guard'] }))).toBe(true);
  });

  it('fails for a learned optimizer that proposes a non-finite point, although the guard itself survives it', () => {
    const nan = erase({ name: 'nan', init: () => ({}), step: (x: tf.Tensor1D) => [tf.tidy(() => x.mul(NaN)), {}] as const });
    const r = checkTheoryCase(c, { learned: nan, fallback: gd(1), steps: 5, claims: ['guard'] });
    expect(E.isLeft(r) && r.left.message).toMatch(/learned optimizer's step from x_0 is not finite/);
    expect(E.isRight(checkTheoryCase(c, { learned: nan, fallback: gd(1), steps: 5, claims: ['descent', 'rate'] }))).toBe(true);
  });

  it('is what holds for a fallback other than sgd with step 1/L: a smaller step fails descent, not guard', () => {
    expect(claimsFor('sgd', 1).claims).toEqual(['descent', 'rate', 'guard']);
    for (const [name, scale] of [
      ['sgd', 0.5],
      ['sgd', 1.5],
      ['momentum', 1],
      ['adam', 1],
    ] as const) {
      expect(claimsFor(name, scale)).toEqual({ claims: ['guard'], why: 'descent and rate need sgd with step 1/L (docs/algorithms.md §4)' });
    }
    // Step 0.5/L at κ = 1 leaves e/2, so f(x_1) = f(x_0)/4 where descent promises f(x_1) ≤ 0.
    const descent = checkTheoryCase(c, { learned: standStill, fallback: gd(0.5), steps: 5, claims: ['descent'] });
    expect(E.isLeft(descent) && descent.left.lhs / f0()).toBeCloseTo(0.25, 5);
    expect(E.isRight(checkTheoryCase(c, { learned: standStill, fallback: gd(0.5), steps: 5, claims: ['guard'] }))).toBe(true);
  });
});

describe('verifyTheory', () => {
  it('finds no counterexample with the 1/L fallback, while the learned optimizer wins rounds', async () => {
    const before = tf.memory().numTensors;
    const report = await verifyTheory({ learned: standStill, fallback: gd(1), steps: 30, cases: 5, seed: 1 });
    expect(report.ok).toBe(true);
    expect(tf.memory().numTensors).toBe(before);

    const learned = randomL2O();
    const withL2O = await verifyTheory({ learned, fallback: gd(1), steps: 40, cases: 20, seed: 7 });
    expect(withL2O).toMatchObject({ ok: true, interrupted: false, cases: 20, seed: 7 });
    expect(withL2O.learnedWins).toBeGreaterThan(0);
    expect(withL2O.informativeSteps).toBeGreaterThan(200);
  });

  it('finds no counterexample for the shipped feature-MLP with the 1/L fallback, which keeps its point in some steps', async () => {
    const learned = buildLearned({ type: 'l2o', checkpoint: 'feature-mlp' });
    if (E.isLeft(learned)) throw learned.left;
    const before = tf.memory().numTensors;
    const report = await verifyTheory({ learned: learned.right, fallback: gd(1), steps: 40, cases: 20, seed: 7 });
    expect(report).toMatchObject({ ok: true, interrupted: false, cases: 20, seed: 7 });
    expect(report.learnedWins).toBeGreaterThan(0);
    expect(report.informativeSteps).toBeGreaterThan(200);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("fails the descent claim with Adam as the fallback for any learned optimizer, even one that never moves: it is gradient descent's with step 1/L", async () => {
    for (const candidate of [standStill, learnedOf('feature-mlp')]) {
      const report = await verifyTheory({ learned: candidate, fallback: adamFallback, steps: 20, cases: 10, seed: 1, claims: ['descent'] });
      expect(report.ok).toBe(false);
      expect(report.claims).toEqual(['descent']);
      expect(report.counterexample?.violation.claim).toBe('descent');
    }
  });

  it('holds the guard claim with Adam as the fallback for the shipped learned optimizers and a random LSTM, which win rounds', async () => {
    const learned = Object.fromEntries(['lstm', 'feature-mlp', 'random:1'].map((name) => [name, learnedOf(name)]));
    const before = tf.memory().numTensors;
    for (const [name, l2o] of Object.entries(learned)) {
      const report = await verifyTheory({ learned: l2o, fallback: adamFallback, steps: 30, cases: 10, seed: 4, claims: ['guard'] });
      expect(report, name).toMatchObject({ ok: true, interrupted: false, cases: 10, claims: ['guard'] });
      expect(report.learnedWins, name).toBeGreaterThan(0);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('shrinks a counterexample of a 1.5/L fallback and replays it from the seed and path', async () => {
    const learned = randomL2O();
    const opts = { learned, fallback: gd(1.5), steps: 20, cases: 30, seed: 3 };
    const report = await verifyTheory(opts);
    expect(report.ok).toBe(false);
    const found = report.counterexample!;
    expect(found.violation.claim).toBe('descent');
    expect(found.violation.lhs).toBeGreaterThan(found.violation.rhs + found.violation.tolerance);
    // The reported case fails the same way on its own, and the path replays it at once.
    const again = checkTheoryCase(found.theoryCase, opts);
    expect(E.isLeft(again) && again.left).toEqual(found.violation);
    const replay = await verifyTheory({ ...opts, path: found.path! });
    expect(replay.cases).toBe(1);
    expect(replay.counterexample?.theoryCase).toEqual(found.theoryCase);
  });

  it('stops between cases when asked, reporting the cases done', async () => {
    let seen = 0;
    const report = await verifyTheory({
      learned: standStill,
      fallback: gd(1),
      steps: 5,
      cases: 50,
      seed: 2,
      onCase: () => (seen += 1),
      stopRequested: () => seen >= 4,
    });
    expect(report).toMatchObject({ ok: true, interrupted: true, cases: 4 });
  });
});

describe('lgl2o verify', () => {
  const out = { stdout: '', stderr: '' };
  const capture = () => {
    out.stdout = '';
    out.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out.stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((out.stderr += String(s)), true));
  };
  afterEach(() => vi.restoreAllMocks());

  it('prints a JSON report and exits 0 without a counterexample, 1 with one', async () => {
    capture();
    const ok = await main(['--json', 'verify', '--l2o', 'random:1', '--cases', '4', '--steps', '10', '--seed', '5']);
    const report = JSON.parse(out.stdout) as { ok: boolean; cases: number; seed: number };
    expect([ok, report.ok, report.cases, report.seed]).toEqual([0, true, 4, 5]);

    // A step 1.5/L keeps the guard claim (the default for it) and breaks descent, when asked for.
    const step15 = ['verify', '--l2o', 'random:1', '--lr-scale', '1.5', '--cases', '4', '--steps', '10', '--seed', '5'];
    capture();
    expect(await main(step15)).toBe(0);
    capture();
    expect(await main([...step15, '--claims', 'descent,rate'])).toBe(1);
    expect(out.stdout).toMatch(/COUNTEREXAMPLE/);
    expect(out.stdout).toMatch(/replay: lgl2o verify .*--lr-scale 1\.5 --claims descent,rate .*--seed 5 --path \S+/);
  });

  it('checks the claims that hold for the fallback, says which and why, and checks a forced set', async () => {
    const run = ['verify', '--l2o', 'feature-mlp', '--cases', '4', '--steps', '20', '--seed', '3'];
    capture();
    expect(await main(['--json', ...run, '--fallback', 'adam'])).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ ok: true, claims: ['guard'], claimsWhy: 'descent and rate need sgd with step 1/L (docs/algorithms.md §4)' });

    capture();
    expect(await main([...run, '--fallback', 'sgd'])).toBe(0);
    expect(out.stdout).toMatch(/^claims, every step: descent .*; rate .*; guard .*; the run finite \(all three hold for sgd with step 1\/L/m);

    capture();
    expect(await main([...run, '--fallback', 'adam', '--claims', 'descent'])).toBe(1);
    expect(out.stdout).toMatch(/^claims, every step: descent f\(x_\{t\+1\}\) ≤ .*; the run finite \(set by --claims\)$/m);
    expect(out.stdout).toMatch(/^ {2}descent failed at step \d+: f\(x_\d+\) = .* > f\(x_\d+\) − ‖∇f\(x_\d+\)‖²\/\(2L\) = /m);
    expect(out.stdout).toMatch(/replay: lgl2o verify .*--fallback adam .*--claims descent .*--seed 3 --path \S+/);
  });

  it('checks the shipped feature-MLP by name: --l2o feature-mlp', async () => {
    capture();
    const ok = await main(['--json', 'verify', '--l2o', 'feature-mlp', '--cases', '4', '--steps', '20', '--seed', '3']);
    const report = JSON.parse(out.stdout) as { ok: boolean; cases: number };
    expect([ok, report.ok, report.cases]).toEqual([0, true, 4]);
  });
});
