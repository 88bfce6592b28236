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

const gd = (scale: number) => (L: number) => erase(sgd({ lr: scale / L }));
/** A learned optimizer that never moves, so it never wins a round. */
/** An optimizer that stays where it is (sgd refuses lr = 0). */
const standStill = erase({ name: 'stand-still', init: () => ({}), step: (x: tf.Tensor1D) => [x.clone(), {}] as const });
const randomL2O = () => {
  const l = buildLearned({ type: 'l2o', checkpoint: 'random:1' });
  if (E.isLeft(l)) throw l.left;
  return l.right;
};

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

  it("fails with Adam as the fallback for any learned optimizer, even one that never moves: the claims are gradient descent's with step 1/L", async () => {
    const adamFallback = (L: number) => erase(adam({ lr: 1 / L }));
    const learned = buildLearned({ type: 'l2o', checkpoint: 'feature-mlp' });
    if (E.isLeft(learned)) throw learned.left;
    for (const candidate of [standStill, learned.right]) {
      const report = await verifyTheory({ learned: candidate, fallback: adamFallback, steps: 20, cases: 10, seed: 1 });
      expect(report.ok).toBe(false);
      expect(report.counterexample?.violation.claim).toBe('descent');
    }
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

    capture();
    const bad = await main(['verify', '--l2o', 'random:1', '--lr-scale', '1.5', '--cases', '4', '--steps', '10', '--seed', '5']);
    expect(bad).toBe(1);
    expect(out.stdout).toMatch(/COUNTEREXAMPLE/);
    expect(out.stdout).toMatch(/replay: lgl2o verify .*--lr-scale 1\.5 .*--seed 5 --path \S+/);
  });

  it('checks the shipped feature-MLP by name: --l2o feature-mlp', async () => {
    capture();
    const ok = await main(['--json', 'verify', '--l2o', 'feature-mlp', '--cases', '4', '--steps', '20', '--seed', '3']);
    const report = JSON.parse(out.stdout) as { ok: boolean; cases: number };
    expect([ok, report.ok, report.cases]).toEqual([0, true, 4]);
  });
});
