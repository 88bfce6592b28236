import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { l2o } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { adam } from '../src/optim/adam.js';
import { erase, type AnyOptimizer } from '../src/optim/optimizer.js';
import { momentum, sgd } from '../src/optim/sgd.js';
import { Rng } from '../src/tensor/rng.js';
import { claimsFor, type CheckedClaim, type FallbackName } from '../src/verify/claims.js';
import { theoryCases } from '../src/verify/property.js';
import { checkTheoryCase, type TheoryCase, type TheoryOptions } from '../src/verify/theory.js';
import { checkBroken, fcParams } from './support/fcRun.js';
import { alwaysLearned } from './support/mutants.js';

/**
 * The guard claim of `lgl2o verify` (docs/algorithms.md §4), which holds for any fallback: with
 * the real LSTM at random weights and Adam, momentum or gradient descent of any step as the
 * fallback, every round keeps a point no worse than the fallback's own step.
 */

interface Case {
  readonly problem: TheoryCase;
  readonly weightSeed: number;
  readonly fallback: FallbackName;
  readonly lrScale: number;
}

const cases: fc.Arbitrary<Case> = fc.record({
  problem: theoryCases(),
  weightSeed: fc.nat(),
  fallback: fc.constantFrom<FallbackName>('adam', 'momentum', 'sgd'),
  lrScale: fc.constantFrom(0.3, 1, 1.5),
});

const fallbackOf = (name: FallbackName, scale: number) => (L: number) => {
  const lr = scale / L;
  return name === 'adam' ? erase(adam({ lr })) : name === 'momentum' ? erase(momentum({ lr })) : erase(sgd({ lr }));
};

type Guard = TheoryOptions['guard'];

/** The claims that hold for the case's fallback (or `only`); counts the rounds the LSTM's point was kept. */
function claimsHold(guard: Guard, tally: { learnedWins: number }, only?: readonly CheckedClaim[]): (c: Case) => void {
  return (c) => {
    const weights = randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(c.weightSeed));
    try {
      const learned = erase(l2o(weights));
      const result = checkTheoryCase(c.problem, {
        learned,
        fallback: fallbackOf(c.fallback, c.lrScale),
        steps: 20,
        claims: only ?? claimsFor(c.fallback, c.lrScale).claims,
        ...(guard ? { guard } : {}),
      });
      if (E.isLeft(result)) throw new Error(`${result.left.claim} failed at step ${result.left.step}: ${result.left.message}`);
      tally.learnedWins += result.right.learnedWins;
    } finally {
      disposeWeights(weights);
    }
  };
}

describe('the guard claim, any fallback, random LSTM', () => {
  it('holds at every step, with descent and rate for sgd of step 1/L (100 cases), and the LSTM wins rounds', () => {
    const tally = { learnedWins: 0 };
    const before = tf.memory().numTensors;
    fc.assert(fc.property(cases, claimsHold(undefined, tally)), fcParams('guard claim/random LSTM', 100));
    expect(tf.memory().numTensors).toBe(before);
    expect(tally.learnedWins).toBeGreaterThan(0);
  });

  it('finds a counterexample when the guard always keeps the learned step', () => {
    const broken = (learned: AnyOptimizer, fallback: AnyOptimizer) => alwaysLearned({ learned, fallback, k: 1, m: 1 });
    const details = checkBroken('guard claim/random LSTM, always learned', fc.property(cases, claimsHold(broken, { learnedWins: 0 }, ['guard'])), 100);
    expect(details.failed).toBe(true);
    expect(String(details.errorInstance)).toMatch(/guard failed at step \d+: f\(x_\d+\) = .* > f\(y_\d+\)/);
  });
});
