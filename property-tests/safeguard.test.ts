import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RoundOptimizer } from '../src/guard/round.js';
import { MU_SEQUENCES, safeguard, type MuSequence, type SafeguardOptions, type SafeguardState } from '../src/guard/safeguard.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { adversary, proposalRuns, type Proposal } from './support/adversary.js';
import { Tally } from './support/claims.js';
import { buildProblem, problemSpecs, type ProblemSpec } from './support/exactProblem.js';
import { checkBroken, fcParams } from './support/fcRun.js';
import { norm } from './support/linalg.js';
import { alwaysAccepts } from './support/mutants.js';
import { runRounds } from './support/theoryRun.js';
import { RESIDUAL_TOLERANCE, residualErrorUnit } from '../src/verify/tolerance.js';

/**
 * GL2O (docs/algorithms.md §5, Heaton et al. 2020) on the exact quadratics of theory mode, fallback
 * T(x) = x − ∇f(x)/L, against an adversarial learned optimizer, for each of the five μ
 * sequences. With the residual r(x) = ‖x − T(x)‖ = ‖∇f(x)‖/L and ρ = 1 − μ/L:
 *   - an accepted proposal y has r(y) ≤ (1 − δ)·μ_t (the acceptance test, re-checked in float64);
 *   - a rejected step is T(x_t), and r(T x) ≤ ρ·r(x) on a μ-strongly convex quadratic;
 *   - μ never grows and after a acceptances is at most μ0·decay(a), a closed form per sequence
 *     (below) that goes to 0 with a whenever δ > 0.
 * Together: r(x_t) ≤ B_t with B_0 = r(x_0), B_{t+1} = (1 − δ)·μ0·decay(a_t) after an
 * acceptance and ρ·B_t after a rejection, so the residual, and with it
 * f(x_t) − f* ≤ ‖∇f‖²/(2μ) = L²r²/(2μ) ≤ L²B_t²/(2μ), goes to 0: GL2O converges.
 */

interface Case {
  readonly problem: ProblemSpec;
  readonly run: readonly Proposal[];
  readonly delta: number;
  readonly theta: number;
  readonly window: number;
}

const cases: fc.Arbitrary<Case> = fc.record({
  problem: problemSpecs(),
  run: proposalRuns(30),
  delta: fc.double({ min: 0, max: 0.5, noNaN: true }),
  theta: fc.double({ min: 0.01, max: 1, noNaN: true }),
  window: fc.integer({ min: 1, max: 10 }),
});

/**
 * Upper bound on μ after `a` acceptances, from μ0 and the acceptance test r ≤ (1 − δ)μ.
 * AA and RM count μ0 as the first term of their history (the code does, as in Heaton et
 * al.'s running average μ_{k+1} = (m_k μ_k + r)/(m_k + 1) with m_0 = 1); these bounds also
 * hold, being weaker, for a history of accepted residuals only.
 */
function muBound(sequence: MuSequence, mu0: number, a: number, c: Pick<Case, 'delta' | 'theta' | 'window'>): number {
  const { delta, theta, window } = c;
  switch (sequence) {
    case 'GS': // μ ← (1 − δ)μ
    case 'RT': // μ ← r ≤ (1 − δ)μ
      return mu0 * (1 - delta) ** a;
    case 'EMA': // μ ← θr + (1 − θ)μ ≤ (1 − θδ)μ
      return mu0 * (1 - theta * delta) ** a;
    case 'AA': {
      // the mean of j terms, then one more r ≤ (1 − δ)μ_j: μ_{j+1} = (j·μ_j + r)/(j + 1) ≤ μ_j·(1 − δ/(j + 1))
      let mu = mu0;
      for (let j = 1; j <= a; j++) mu *= 1 - delta / (j + 1);
      return mu;
    }
    case 'RM': // the max of the last W terms: every term that enters is ≤ (1 − δ)·the max, so the max drops by (1 − δ) every W acceptances
      return mu0 * (1 - delta) ** Math.floor(a / window);
  }
}

type MakeGuard = (options: SafeguardOptions) => RoundOptimizer<SafeguardState>;
const show = (v: number) => v.toPrecision(8);
/** Slack for the guard's own float64 arithmetic on μ. */
const MU_SLACK = 1 + 1e-9;

function safeguardClaims(sequence: MuSequence, makeGuard: MakeGuard, tally?: Tally): (c: Case) => void {
  return (c) => {
    const p = buildProblem(c.problem);
    const rho = 1 - p.mu / p.L;
    const r = (x: Float32Array) => Math.sqrt(p.gradNormSq(x)) / p.L;
    const tolR = (x: Float32Array) => RESIDUAL_TOLERANCE * residualErrorUnit(p, r(x), norm(x));
    try {
      const guard = makeGuard({
        learned: erase(adversary(p, c.run)),
        fallback: erase(sgd({ lr: 1 / p.L })),
        sequence,
        delta: c.delta,
        theta: c.theta,
        window: c.window,
      });
      let mu0 = NaN;
      let accepted = 0;
      let lastMu = Infinity;
      let bound = NaN;
      let xLast: Float32Array | undefined;
      let muLast = NaN;
      runRounds(guard, p, c.run.length, ({ t, after, xBefore, xAfter, report }) => {
        const where = `step ${t} (${report.accepted ? 'accepted' : 'rejected'}, proposal ${JSON.stringify(c.run[t % c.run.length])})`;
        if (t === 0) {
          mu0 = report.mu!;
          bound = r(xBefore);
          const tol = tolR(xBefore);
          if (!(Math.abs(mu0 - bound) <= tol)) throw new Error(`μ0 = ${show(mu0)} is not the residual ‖x0 − T(x0)‖ = ${show(bound)} (tolerance ${show(tol)})`);
        }
        const mu = report.mu!;
        const allowed = muBound(sequence, mu0, accepted, c) * MU_SLACK;
        if (!(mu <= allowed && mu <= lastMu * MU_SLACK)) {
          throw new Error(`μ at ${where} is ${show(mu)}: above μ0·decay(${accepted} acceptances) = ${show(allowed)} or above the previous ${show(lastMu)}`);
        }
        lastMu = mu;
        const rNext = r(xAfter);
        if (report.accepted) {
          const tol = tolR(xAfter);
          tally?.use(rNext, (1 - c.delta) * mu, tol);
          if (!(rNext <= (1 - c.delta) * mu + tol))
            throw new Error(`${where}: kept a point with residual ${show(rNext)} > (1 − δ)μ = ${show((1 - c.delta) * mu)} (+ ${show(tol)})`);
          if (!(Math.abs((report.residual ?? NaN) - rNext) <= tol))
            throw new Error(`${where}: reported residual ${report.residual} is not ‖∇f(y)‖/L = ${show(rNext)}`);
          bound = (1 - c.delta) * muBound(sequence, mu0, accepted, c) + tol;
          accepted += 1;
        } else {
          const tol = tolR(xBefore);
          const rPrev = r(xBefore);
          tally?.use(rNext, rho * rPrev, tol);
          if (!(rNext <= rho * rPrev + tol))
            throw new Error(`${where}: the fallback step did not contract the residual: ${show(rNext)} > (1 − μ/L)·${show(rPrev)} (+ ${show(tol)})`);
          bound = rho * bound + tol;
        }
        if (!(rNext <= bound)) throw new Error(`${where}: residual ${show(rNext)} above the convergence bound B_${t + 1} = ${show(bound)}`);
        tally?.round(report.accepted === true, c.run[t % c.run.length]!.kind);
        xLast = xAfter;
        muLast = after.mu ?? NaN;
      });
      if (!(muLast <= muBound(sequence, mu0, accepted, c) * MU_SLACK)) throw new Error(`final μ = ${show(muLast)} above μ0·decay(${accepted})`);
      // The final suboptimality from the residual bound: f − f* ≤ ‖∇f‖²/(2μ) ≤ L²B²/(2μ).
      const fFinal = p.f(xLast!);
      const fBound = (p.L * bound) ** 2 / (2 * p.mu);
      if (!(fFinal <= fBound * (1 + 1e-9))) throw new Error(`final suboptimality ${show(fFinal)} above L²B²/(2μ) = ${show(fBound)}`);
      if (tally) tally.cases += 1;
    } finally {
      p.dispose();
    }
  };
}

describe.each(MU_SEQUENCES.map((s) => [s]))('GL2O with the %s sequence, theory mode, adversarial learned optimizer', (sequence) => {
  it('accepted points pass the residual test, μ decays by its closed form, the residual bound goes to 0 (100 cases)', () => {
    const tally = new Tally();
    const before = tf.memory().numTensors;
    fc.assert(fc.property(cases, safeguardClaims(sequence, safeguard, tally)), fcParams(`gl2o-${sequence} theory/adversary`, 100));
    console.info(`[property] gl2o-${sequence} theory/adversary: ${tally.summary().replace('learned kept', 'accepted')}`);
    expect(tf.memory().numTensors).toBe(before);
    expect(tally.learnedWins).toBeGreaterThan(tally.rounds / 20);
  });

  it('finds a counterexample when GL2O accepts every proposal', () => {
    const before = tf.memory().numTensors;
    const details = checkBroken(`gl2o-${sequence} theory/adversary, always accepts`, fc.property(cases, safeguardClaims(sequence, alwaysAccepts)), 100);
    expect(details.failed).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});
