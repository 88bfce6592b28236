import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DecisionRule } from '../src/guard/decide.js';
import { lossGuard, type LossGuardOptions, type LossGuardState } from '../src/guard/lossGuard.js';
import type { RoundOptimizer } from '../src/guard/round.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { adversary, proposalRuns, type Proposal } from './support/adversary.js';
import { checkDescentAndRate, informativeAt, Tally } from './support/claims.js';
import { buildProblem, gdStep64, problemSpecs, type ProblemSpec } from './support/exactProblem.js';
import { checkBroken, fcParams } from './support/fcRun.js';
import { distance, norm } from './support/linalg.js';
import { alwaysLearned, ignoresAnchor } from './support/mutants.js';
import { runRounds } from './support/theoryRun.js';
import { driftPerStep, stepTolerance } from '../src/verify/tolerance.js';

/**
 * The anchored guard (docs/algorithms.md §4b) in theory mode against an adversarial learned optimizer:
 * at every round its loss is at most the anchor run's (the fallback's own run from x0), and it
 * keeps the fallback's descent lemma and linear rate. The anchor run is checked against a
 * gradient-descent loop the test runs itself (float32, bit for bit) and against float64
 * gradient descent (within the rounding drift).
 */

interface Case {
  readonly problem: ProblemSpec;
  readonly run: readonly Proposal[];
  readonly backoff: number | undefined;
  /** With m = 1 exact comparisons the paired test has no spread to discount: it must keep every claim too. */
  readonly decision: DecisionRule;
}

const generalCases: fc.Arbitrary<Case> = fc.record({
  problem: problemSpecs(),
  run: proposalRuns(30),
  backoff: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
  decision: fc.constantFrom<DecisionRule>('strict', 'paired'),
});

/**
 * The trap of §4b, built on purpose. A "flat" proposal beats the fallback's step now
 * (f = ρ·f(GD step), so the plain rule and the anchored rule both take it) but leaves all the
 * error in the flattest direction of A, where gradient descent removes only a factor
 * (1 − μ/L)² of f per step. The anchor run's error is spread over the spectrum (x0 is random,
 * the eigenvalues uniform in [μ, L]) and loses about 2/3 of f per step at first. After the
 * trap the learned optimizer only proposes losers ("stay" ties with the current point, NaN,
 * huge steps), so a rule that never takes the anchor sits at ρ(1 − μ/L)^2t·f(a_1) while the
 * anchor run goes far below it: with κ ≥ 10 and d ≥ 8 this happens from the second round.
 */
const trapCases: fc.Arbitrary<Case> = fc.record({
  problem: problemSpecs({ minDim: 8 }).map((spec) => ({ ...spec, log10Kappa: 1 + (2 * spec.log10Kappa) / 3, spectrum: 'uniform' as const })),
  run: fc
    .tuple(
      fc.record({ kind: fc.constant('flat' as const), rho: fc.double({ min: 0.5, max: 0.99, noNaN: true }), sign: fc.constantFrom<1 | -1>(1, -1) }),
      fc.array(fc.constantFrom<Proposal>({ kind: 'stay' }, { kind: 'constant', value: NaN }, { kind: 'gradient', lrTimesL: 1e3 }), {
        minLength: 3,
        maxLength: 10,
      }),
    )
    .map(([trap, losers]) => [trap, ...losers]),
  backoff: fc.constant(undefined),
  decision: fc.constantFrom<DecisionRule>('strict', 'paired'),
});

const cases = fc.oneof({ weight: 3, arbitrary: generalCases }, { weight: 1, arbitrary: trapCases });

type MakeGuard = (options: LossGuardOptions) => RoundOptimizer<LossGuardState>;

const show = (v: number) => v.toPrecision(8);

function anchoredClaims(makeGuard: MakeGuard, tally?: Tally, driftTally?: Tally): (c: Case) => void {
  return (c) => {
    const p = buildProblem(c.problem);
    const fallback = sgd({ lr: 1 / p.L });
    // The test's own gradient-descent loop from x0, outside the guard.
    let ref32 = p.x0.clone();
    let refState = fallback.init(ref32);
    try {
      const guard = makeGuard({
        learned: erase(adversary(p, c.run)),
        fallback: erase(fallback),
        k: 1,
        m: 1,
        anchor: true,
        decision: c.decision,
        ...(c.backoff !== undefined ? { backoff: c.backoff } : {}),
      });
      let ref64: Float64Array = Float64Array.from(p.x0.dataSync());
      let drift = 0;
      let beta = p.f(ref64);
      runRounds(guard, p, c.run.length, ({ t, after, xBefore, xAfter, report }) => {
        const { loss, grad } = p.q.lossAndGrad(ref32, p.batch);
        const [nextRef, nextState] = fallback.step(ref32, grad, refState);
        tf.dispose([loss, grad, ref32]);
        ref32 = nextRef;
        refState = nextState;
        drift += driftPerStep(p, norm(ref64), distance(ref64, p.minimum32));
        ref64 = gdStep64(p, ref64);

        if (after.anchor === null) throw new Error('the anchored guard has no anchor state');
        const anchor = Float32Array.from(after.anchor.x.dataSync());
        const own = Float32Array.from(ref32.dataSync());
        const firstDiff = anchor.findIndex((v, i) => !Object.is(v, own[i]));
        if (firstDiff >= 0) throw new Error(`round ${t}: state.anchor differs from the test's gradient-descent run at coordinate ${firstDiff}`);
        const gap = distance(anchor, ref64);
        driftTally?.use(gap, 0, drift);
        if (!(gap <= drift))
          throw new Error(`round ${t}: the anchor run is ${show(gap)} from float64 gradient descent, more than the rounding drift ${show(drift)}`);

        const fAnchor = p.f(anchor);
        const fx = p.f(xAfter);
        const tol = stepTolerance(p, fAnchor);
        tally?.use(fx, fAnchor, tol);
        if (!(fx <= fAnchor + tol)) {
          throw new Error(
            `anchor claim fails at round ${t}: f(x_${t + 1}) = ${show(fx)} > f(anchor_${t + 1}) = ${show(fAnchor)} (+ float32 tolerance ${show(tol)}); ` +
              `winner ${report.winner}, proposal ${JSON.stringify(c.run[t % c.run.length])}`,
          );
        }
        beta = checkDescentAndRate(p, t, xBefore, xAfter, beta, undefined, ` (winner ${report.winner})`);
        if (tally && informativeAt(p, xBefore)) tally.round(report.winner === 'learned', c.run[t % c.run.length]!.kind);
      });
      if (tally) tally.cases += 1;
    } finally {
      tf.dispose(ref32);
      p.dispose();
    }
  };
}

describe('anchored loss guard, theory mode, adversarial learned optimizer', () => {
  it('never worse than the anchor run, and keeps the descent lemma and linear rate (150 cases)', () => {
    const tally = new Tally();
    const driftTally = new Tally();
    const before = tf.memory().numTensors;
    fc.assert(fc.property(cases, anchoredClaims(lossGuard, tally, driftTally)), fcParams('lgl2o-anchor theory/adversary', 150));
    console.info(
      `[property] lgl2o-anchor theory/adversary: ${tally.summary()}; anchor vs float64 GD: max drift allowance used ${driftTally.maxToleranceUsed.toFixed(3)}`,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(tally.learnedWins).toBeGreaterThan(tally.rounds / 20);
  });

  it('finds a counterexample when the anchored guard never lets the anchor win', () => {
    const before = tf.memory().numTensors;
    const details = checkBroken('lgl2o-anchor theory/trap, anchor ignored', fc.property(trapCases, anchoredClaims(ignoresAnchor)), 100);
    expect(details.failed).toBe(true);
    expect(String(details.errorInstance)).toMatch(/anchor claim fails/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('finds a counterexample when the guard always keeps the learned step', () => {
    const before = tf.memory().numTensors;
    const details = checkBroken('lgl2o-anchor theory/adversary, always learned', fc.property(cases, anchoredClaims(alwaysLearned)), 100);
    expect(details.failed).toBe(true);
    expect(String(details.errorInstance)).toMatch(/anchor claim fails|descent lemma fails|linear rate fails/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
