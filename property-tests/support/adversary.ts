import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import type { Optimizer } from '../../src/optim/optimizer.js';
import { Rng } from '../../src/tensor/rng.js';
import { gdStep64, type TheoryProblem } from './exactProblem.js';
import { dot, matVec, norm } from './linalg.js';

/**
 * What an adversarial learned optimizer proposes at one step, as fast-check draws it. The
 * adversary knows the problem (x*, A, f) and uses it to be as hard on the guard as it can:
 * garbage (NaN, ±Inf, huge), plausible moves, proposals exactly at the descent bound (so
 * only float32 noise decides), and "flat" moves that beat the fallback now but leave the
 * error in the slowest direction of A (the trap of docs/algorithms.md §4b).
 */
export type Proposal =
  | { readonly kind: 'constant'; readonly value: number } // every coordinate the same value
  | { readonly kind: 'poison'; readonly index: number; readonly value: number } // x with one coordinate replaced
  | { readonly kind: 'stay' } // x itself
  | { readonly kind: 'scaled'; readonly factor: number } // x* + factor·(x − x*)
  | { readonly kind: 'gradient'; readonly lrTimesL: number } // x − (c/L)·∇f(x)
  | { readonly kind: 'random'; readonly seed: number; readonly log10Radius: number } // x + radius·‖x − x*‖·(random unit)
  | { readonly kind: 'atBound'; readonly slack: number } // f = (f(x) − ‖∇f‖²/(2L))·(1 + slack), on the ray from x*
  | { readonly kind: 'flat'; readonly rho: number; readonly sign: 1 | -1 }; // x* ± c·v_min with f = rho·f(GD step)

const specialValues = fc.constantFrom(NaN, Infinity, -Infinity, 1e30, -1e30, 3e38, -3e38, 1e-40, 0);
const anyValue = fc.oneof(specialValues, fc.double());

export const proposals: fc.Arbitrary<Proposal> = fc.oneof(
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('constant' as const), value: anyValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('poison' as const), index: fc.nat(63), value: specialValues }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('stay' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('scaled' as const), factor: fc.double({ min: -3, max: 3, noNaN: true }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('gradient' as const),
      lrTimesL: fc.oneof(fc.double({ min: -4, max: 4, noNaN: true }), fc.constantFrom(1e3, -1e3, 1e8)),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('random' as const), seed: fc.nat(), log10Radius: fc.double({ min: -6, max: 6, noNaN: true }) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('atBound' as const), slack: fc.double({ min: -1e-3, max: 1e-3, noNaN: true }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('flat' as const), rho: fc.double({ min: 0.2, max: 0.999, noNaN: true }), sign: fc.constantFrom<1 | -1>(1, -1) }),
  },
);

/** A run's worth of proposals, one per round (the adversary cycles if asked for more). */
export const proposalRuns = (maxRounds: number) => fc.array(proposals, { minLength: 1, maxLength: maxRounds, size: 'max' });

/** The adversary's point for one proposal at x (float32, as the guard holds it). */
export function propose(p: TheoryProblem, proposal: Proposal, x: Float32Array, g: Float32Array): Float32Array {
  const d = x.length;
  const xs = p.q.minimum;
  const around = (c: number, dir: ArrayLike<number>) => Float32Array.from({ length: d }, (_, i) => xs[i]! + c * dir[i]!);
  const err = Float64Array.from(x, (v, i) => v - xs[i]!);
  switch (proposal.kind) {
    case 'constant':
      return new Float32Array(d).fill(proposal.value);
    case 'poison': {
      const y = x.slice();
      y[proposal.index % d] = proposal.value;
      return y;
    }
    case 'stay':
      return x.slice();
    case 'scaled':
      return around(proposal.factor, err);
    case 'gradient':
      return Float32Array.from(x, (v, i) => v - (proposal.lrTimesL / p.L) * g[i]!);
    case 'random': {
      const rng = Rng.seeded(proposal.seed);
      const w = Float64Array.from({ length: d }, () => rng.normal());
      const radius = (10 ** proposal.log10Radius * Math.max(norm(err), 1e-30)) / Math.max(norm(w), 1e-30);
      return Float32Array.from(x, (v, i) => v + radius * w[i]!);
    }
    case 'atBound': {
      const f = p.f(x);
      const target = Math.max(0, f - p.gradNormSq(x) / (2 * p.L)) * (1 + proposal.slack);
      return around(f > 0 ? Math.sqrt(target / f) : 0, err);
    }
    case 'flat': {
      const v = p.flatDirection();
      const curvature = dot(v, matVec(p.matrix32(), v)) / 2; // f(x* + v) with A₃₂
      const fG = p.f(gdStep64(p, x));
      return around(proposal.sign * Math.sqrt((proposal.rho * fG) / Math.max(curvature, 1e-300)), v);
    }
  }
}

/** A learned optimizer that proposes the drawn points, one per step. */
export function adversary(p: TheoryProblem, run: readonly Proposal[]): Optimizer<{ readonly t: number }> {
  return {
    name: 'adversary',
    init: () => ({ t: 0 }),
    step: (params, grads, { t }) => {
      const y = propose(p, run[t % run.length]!, Float32Array.from(params.dataSync()), Float32Array.from(grads.dataSync()));
      return [tf.tensor1d(y), { t: t + 1 }] as const;
    },
  };
}
