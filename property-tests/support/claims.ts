import * as E from 'fp-ts/lib/Either.js';
import { checkStep } from '../../src/verify/theory.js';
import { informative } from '../../src/verify/tolerance.js';
import type { TheoryProblem } from './exactProblem.js';

/** Counts across the cases of one property: coverage and how much of the tolerance was used. */
export class Tally {
  cases = 0;
  /** Rounds counted for coverage: those where the promised decrease is well above float32 resolution. */
  rounds = 0;
  learnedWins = 0;
  /** Largest (lhs − bound)/tolerance seen: ≤ 0 means the exact claim held, ≤ 1 the claim with tolerance. */
  maxToleranceUsed = -Infinity;
  /** Rounds and wins of the learned candidate per kind of proposal (adversarial runs). */
  readonly byKind = new Map<string, { rounds: number; wins: number }>();

  round(learnedWon: boolean, kind?: string): void {
    this.rounds += 1;
    if (learnedWon) this.learnedWins += 1;
    if (kind === undefined) return;
    const k = this.byKind.get(kind) ?? { rounds: 0, wins: 0 };
    k.rounds += 1;
    if (learnedWon) k.wins += 1;
    this.byKind.set(kind, k);
  }

  use(lhs: number, bound: number, tol: number): void {
    if (tol > 0) this.maxToleranceUsed = Math.max(this.maxToleranceUsed, (lhs - bound) / tol);
  }

  summary(): string {
    const kinds = [...this.byKind].map(([k, v]) => `${k} ${v.wins}/${v.rounds}`).join(', ');
    return (
      `${this.cases} cases, ${this.rounds} rounds, learned kept in ${this.learnedWins}, max tolerance used ${this.maxToleranceUsed.toFixed(3)}` +
      (kinds ? ` (learned kept/probed by proposal: ${kinds})` : '')
    );
  }
}

const show = (v: number) => v.toPrecision(8);

/**
 * The two claims of theory mode for one step x_t → x_{t+1} (docs/algorithms.md §4), checked by the
 * core's `checkStep` on the float64 f of the float32 iterates, with the float32 tolerance of
 * src/verify/tolerance.ts. `beta` is the rate bound for x_t; returns the bound for x_{t+1}.
 * Throws a message naming the step and the claim, with `what` appended.
 */
export function checkDescentAndRate(p: TheoryProblem, t: number, xBefore: Float32Array, xAfter: Float32Array, beta: number, tally?: Tally, what = ''): number {
  const f = p.f(xBefore);
  const checked = checkStep(p, t, f, p.gradNormSq(xBefore), p.f(xAfter), beta);
  if (E.isLeft(checked)) {
    const v = checked.left;
    if (v.claim === 'descent') tally?.use(v.lhs, v.rhs, v.tolerance);
    const claim = v.claim === 'descent' ? 'descent lemma' : 'linear rate';
    throw new Error(
      `${claim} fails at t = ${t}${what}: ${v.message} (float32 tolerance ${show(v.tolerance)}); f(x_${t}) = ${show(f)}, d = ${p.dim}, κ = ${show(p.kappa)}`,
    );
  }
  tally?.use(checked.right.lhs, checked.right.rhs, checked.right.tolerance);
  return checked.right.beta;
}

/** `informative` of the core at x_t. */
export const informativeAt = (p: TheoryProblem, xBefore: Float32Array): boolean => informative(p, p.f(xBefore), p.gradNormSq(xBefore));
