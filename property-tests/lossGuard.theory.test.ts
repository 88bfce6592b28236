import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DecisionRule } from '../src/guard/decide.js';
import { lossGuard, type LossGuardOptions, type LossGuardState, type StatePolicy } from '../src/guard/lossGuard.js';
import type { RoundOptimizer } from '../src/guard/round.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { adversary, proposalRuns, type Proposal } from './support/adversary.js';
import { checkDescentAndRate, informativeAt, Tally } from './support/claims.js';
import { buildProblem, problemSpecs, type ProblemSpec } from './support/exactProblem.js';
import { checkBroken, fcParams } from './support/fcRun.js';
import { alwaysLearned } from './support/mutants.js';
import { runRounds } from './support/theoryRun.js';

/**
 * Theory mode of docs/algorithms.md §4 (k = 1, m = 1, exact loss, fallback = gradient descent with
 * step 1/L) against an ADVERSARIAL learned optimizer whose proposals fast-check draws:
 * whatever it proposes, every step satisfies the descent lemma and the run the linear rate.
 */

interface Case {
  readonly problem: ProblemSpec;
  readonly run: readonly Proposal[];
  readonly decision: DecisionRule;
  readonly statePolicy: StatePolicy;
  /** Probing with back-off (undefined: probe every round). */
  readonly backoff: number | undefined;
}

type MakeGuard = (options: LossGuardOptions) => RoundOptimizer<LossGuardState>;

const cases = (backoff: fc.Arbitrary<number | undefined>): fc.Arbitrary<Case> =>
  fc.record({
    problem: problemSpecs(),
    run: proposalRuns(30),
    // With m = 1 the paired test has no spread and reduces to the strict rule; both must hold.
    decision: fc.constantFrom<DecisionRule>('strict', 'paired'),
    statePolicy: fc.constantFrom<StatePolicy>('keep', 'reset'),
    backoff,
  });

function theoryClaims(makeGuard: MakeGuard, tally?: Tally): (c: Case) => void {
  return (c) => {
    const p = buildProblem(c.problem);
    try {
      const guard = makeGuard({
        learned: erase(adversary(p, c.run)),
        fallback: erase(sgd({ lr: 1 / p.L })),
        k: 1,
        m: 1,
        decision: c.decision,
        statePolicy: c.statePolicy,
        ...(c.backoff !== undefined ? { backoff: c.backoff } : {}),
      });
      let beta = p.f(Float32Array.from(p.x0.dataSync()));
      runRounds(guard, p, c.run.length, ({ t, xBefore, xAfter, report }) => {
        beta = checkDescentAndRate(p, t, xBefore, xAfter, beta, tally, ` (winner ${report.winner}, proposal ${JSON.stringify(c.run[t % c.run.length])})`);
        if (report.probed === false && report.winner !== 'fallback') throw new Error(`round ${t} was not probed yet kept ${report.winner}`);
        if (tally && informativeAt(p, xBefore))
          tally.round(report.winner === 'learned', report.probed === false ? 'not probed' : c.run[t % c.run.length]!.kind);
      });
      if (tally) tally.cases += 1;
    } finally {
      p.dispose();
    }
  };
}

function expectHolds(name: string, arb: fc.Arbitrary<Case>, runs: number): void {
  const tally = new Tally();
  const before = tf.memory().numTensors;
  fc.assert(fc.property(arb, theoryClaims(lossGuard, tally)), fcParams(name, runs));
  console.info(`[property] ${name}: ${tally.summary()}`);
  expect(tf.memory().numTensors).toBe(before);
  // Not vacuous: above float32 resolution, the adversary's proposals were kept in a good share of the rounds.
  expect(tally.learnedWins).toBeGreaterThan(tally.rounds / 20);
}

function expectCaught(name: string, arb: fc.Arbitrary<Case>): void {
  const before = tf.memory().numTensors;
  const details = checkBroken(`${name}, always learned`, fc.property(arb, theoryClaims(alwaysLearned)), 100);
  expect(details.failed).toBe(true);
  expect(String(details.errorInstance)).toMatch(/descent lemma fails|linear rate fails/);
  expect(tf.memory().numTensors).toBe(before);
}

const everyRound = fc.constant(undefined);
const withBackoff = fc.integer({ min: 0, max: 6 });

describe('loss guard, theory mode, adversarial learned optimizer', () => {
  it('descent lemma and linear rate hold at every step (150 cases)', () => {
    expectHolds('lgl2o theory/adversary', cases(everyRound), 150);
  });

  it('the same property finds a counterexample when the guard always keeps the learned step', () => {
    expectCaught('lgl2o theory/adversary', cases(everyRound));
  });
});

describe('loss guard with probing back-off, theory mode', () => {
  it('descent lemma and linear rate still hold (120 cases)', () => {
    expectHolds('lgl2o backoff/adversary', cases(withBackoff), 120);
  });

  it('the same property finds a counterexample when the guard always keeps the learned step', () => {
    expectCaught('lgl2o backoff/adversary', cases(withBackoff));
  });
});
