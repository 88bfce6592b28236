import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { assertBackendReady } from '../tensor/backend.js';
import { CHECKABLE_CLAIMS, type CheckedClaim } from './claims.js';
import { checkTheoryCase, type TheoryCase, type TheoryOptions, type Violation } from './theory.js';

/** The ranges random cases are drawn from. */
export interface CaseRanges {
  readonly maxDim: number;
  readonly minL: number;
  readonly maxL: number;
  readonly maxKappa: number;
}

export const DEFAULT_RANGES: CaseRanges = { maxDim: 16, minL: 0.1, maxL: 100, maxKappa: 1000 };

/** Random strongly convex quadratics: dimension, smoothness L, condition number and seed. */
export function theoryCases(r: CaseRanges = DEFAULT_RANGES): fc.Arbitrary<TheoryCase> {
  return fc.record({
    dim: fc.integer({ min: 1, max: r.maxDim }),
    L: fc.double({ min: r.minL, max: r.maxL, noNaN: true }),
    kappa: fc.double({ min: 1, max: r.maxKappa, noNaN: true }),
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  });
}

/** A failed case, carried out of the property through fast-check's shrinking. */
export class TheoryViolation extends Error {
  constructor(
    readonly theoryCase: TheoryCase,
    readonly violation: Violation,
  ) {
    super(`${violation.claim} failed at step ${violation.step}: ${violation.message}`);
    this.name = 'TheoryViolation';
  }
}

/** Thrown inside the property when the run is asked to stop (SIGINT). */
class Interrupted extends Error {}

/** The property itself: `checkTheoryCase` must hold for the case (throws a `TheoryViolation`). */
export function theoryHolds(opts: TheoryOptions): (c: TheoryCase) => void {
  return (c) => {
    const result = checkTheoryCase(c, opts);
    if (E.isLeft(result)) throw new TheoryViolation(c, result.left);
  };
}

export interface VerifyOptions extends TheoryOptions {
  readonly cases: number;
  /** fast-check's seed; drawn at random when absent (the report gives it for a replay). */
  readonly seed?: number;
  /** fast-check's path of a counterexample: with `seed`, replays it at once. */
  readonly path?: string;
  readonly ranges?: CaseRanges;
  /** Called after every case run, shrinking included. */
  readonly onCase?: (c: TheoryCase) => void;
  /** Polled between cases: true stops the run early. */
  readonly stopRequested?: () => boolean;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly interrupted: boolean;
  /** Cases that ran before the verdict (shrinking not counted). */
  readonly cases: number;
  readonly seed: number;
  readonly steps: number;
  /** The claims checked at every step (`finite` always is). */
  readonly claims: readonly CheckedClaim[];
  /** Over the cases of the search: steps checked above float32 resolution, rounds that kept the learned point. */
  readonly informativeSteps: number;
  readonly learnedWins: number;
  readonly counterexample?: {
    readonly theoryCase: TheoryCase;
    readonly violation: Violation;
    /** With the seed, replays the counterexample (absent when the run was stopped while shrinking). */
    readonly path?: string;
    readonly shrinks: number;
  };
  /** An error that is not a violation (a bug or a broken optimizer). */
  readonly error?: string;
}

/** Lets timers and signal handlers run between cases. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Property-based check of the theory-mode claims (`opts.claims`, default all) on random quadratics: runs `cases` cases,
 * shrinks a failing one to a small counterexample and reports the seed and path that replay it.
 */
export async function verifyTheory(opts: VerifyOptions): Promise<VerifyReport> {
  assertBackendReady('verifyTheory');
  let informativeSteps = 0;
  let learnedWins = 0;
  let violated: TheoryViolation | undefined;
  const property = fc.asyncProperty(theoryCases(opts.ranges), async (c) => {
    await nextTurn();
    if (opts.stopRequested?.()) throw new Interrupted();
    const result = checkTheoryCase(c, opts);
    opts.onCase?.(c);
    if (E.isLeft(result)) throw (violated = new TheoryViolation(c, result.left));
    // Totals of the search itself, not of the shrinking that follows a violation.
    if (violated === undefined) {
      informativeSteps += result.right.informativeSteps;
      learnedWins += result.right.learnedWins;
    }
  });
  const details = await fc.check(property, {
    numRuns: opts.cases,
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.path !== undefined ? { path: opts.path } : {}),
  });
  const base = { seed: details.seed, steps: opts.steps, claims: opts.claims ?? CHECKABLE_CLAIMS, informativeSteps, learnedWins };
  const err = details.errorInstance;
  if (!details.failed) return { ok: true, interrupted: false, cases: details.numRuns, ...base };
  const found = err instanceof TheoryViolation ? err : violated;
  const counterexample = found && {
    theoryCase: found.theoryCase,
    violation: found.violation,
    // A run stopped while shrinking has no replay path; its last violation is still reported.
    ...(err instanceof TheoryViolation && details.counterexamplePath !== null ? { path: details.counterexamplePath } : {}),
    shrinks: details.numShrinks,
  };
  const interrupted = err instanceof Interrupted;
  const cases = interrupted && violated === undefined ? details.numRuns - 1 : details.numRuns;
  if (counterexample) return { ok: false, interrupted, cases, ...base, counterexample };
  if (interrupted) return { ok: true, interrupted, cases, ...base };
  return { ok: false, interrupted, cases, ...base, error: err instanceof Error ? err.message : String(err) };
}
