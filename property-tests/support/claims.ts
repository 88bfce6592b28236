import type { TheoryProblem } from './exactProblem.js';
import { nextRateBound, stepTolerance } from './tolerance.js';

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
 * The two claims of theory mode for one step x_t → x_{t+1} (ALGORITHMS §4):
 *   descent (Prop. C.1, eq. 2): f(x_{t+1}) ≤ f(x_t) − ‖∇f(x_t)‖²/(2L)
 *   rate (eq. 8):               f(x_{t+1}) − f* ≤ (1 − μ/L)^{t+1} (f(x_0) − f*), f* = 0,
 * each within the float32 tolerance of `tolerance.ts`. `beta` is the rate bound for x_t (with
 * the tolerances so far); returns the bound for x_{t+1}. Throws a message naming the step.
 */
export function checkDescentAndRate(p: TheoryProblem, t: number, xBefore: Float32Array, xAfter: Float32Array, beta: number, tally?: Tally, what = ''): number {
  const f = p.f(xBefore);
  const fNext = p.f(xAfter);
  const bound = f - p.gradNormSq(xBefore) / (2 * p.L);
  const tol = stepTolerance(p, f);
  tally?.use(fNext, bound, tol);
  if (!(fNext <= bound + tol)) {
    throw new Error(
      `descent lemma fails at t = ${t}${what}: f(x_${t + 1}) = ${show(fNext)} > f(x_${t}) − ‖∇f(x_${t})‖²/(2L) = ${show(bound)} ` +
        `(+ float32 tolerance ${show(tol)}); f(x_${t}) = ${show(f)}, d = ${p.dim}, κ = ${show(p.kappa)}`,
    );
  }
  const nextBeta = nextRateBound(p, beta);
  if (!(fNext <= nextBeta)) {
    throw new Error(`linear rate fails at t = ${t}${what}: f(x_${t + 1}) = ${show(fNext)} > (1 − μ/L)^${t + 1}·f(x_0) + tolerances = ${show(nextBeta)}`);
  }
  return nextBeta;
}

/** Whether a step's promised decrease is well above its float32 tolerance (else it only checks rounding). */
export function informative(p: TheoryProblem, xBefore: Float32Array): boolean {
  return p.gradNormSq(xBefore) / (2 * p.L) > 4 * stepTolerance(p, p.f(xBefore));
}
