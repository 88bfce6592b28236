import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { safeguard, type MuSequence } from '../src/guard/safeguard.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { disposeAll } from '../src/tensor/state.js';
import { centering, mustRound, scalarOf, scripted, targets } from './helpers.js';

/**
 * Hand-worked GL2O on f(x) = ½ (x − 2)² with T(x) = x − ½ ∇f(x) and a learned optimizer that
 * always proposes +1.5: μ0 = ‖0 − T(0)‖ = 1; y = 1.5 has r = ½·0.5 = 0.25 (accept);
 * from 1.5, y = 3 has r = 0.5 (accept if ≤ 0.95 μ1); from 3, y = 4.5 has r = 1.25 (reject → T(3) = 2.5).
 */
describe('safeguard (GL2O, docs/algorithms.md §5)', () => {
  const run = (sequence: MuSequence) => {
    const guard = safeguard({ learned: erase(scripted([1.5])), fallback: erase(sgd({ lr: 0.5 })), sequence });
    const x0 = tf.tensor1d([0]);
    let s = guard.init(x0);
    const out: Array<{ x: number; accepted: boolean; mu: number | null; r: number }> = [];
    for (let i = 0; i < 3; i++) {
      let report;
      [s, report] = mustRound(guard, centering, s, [targets(2)]);
      out.push({ x: scalarOf(s.x), accepted: report.accepted!, mu: s.mu, r: report.residual! });
    }
    disposeAll([x0, s]);
    return out;
  };

  it('accepts while the residual shrinks below (1 − δ) μ and falls back from x otherwise (EMA)', () => {
    const steps = run('EMA');
    expect(steps.map((s) => s.accepted)).toEqual([true, true, false]);
    expect(steps.map((s) => s.x)).toEqual([1.5, 3, 2.5]);
    expect(steps[0]!.r).toBeCloseTo(0.25, 6);
    expect(steps[0]!.mu).toBeCloseTo(0.1 * 0.25 + 0.9 * 1, 6);
    expect(steps[1]!.mu).toBeCloseTo(0.1 * 0.5 + 0.9 * 0.925, 6);
    expect(steps[2]!.r).toBeCloseTo(1.25, 6);
    expect(steps[2]!.mu).toBeCloseTo(steps[1]!.mu!, 9); // rejection leaves μ alone
  });

  it('updates μ by each of the five sequences', () => {
    expect(run('GS')[1]!.mu).toBeCloseTo(0.95 * 0.95, 6);
    // AA averages μ0 = 1 and the accepted residuals: (1 + 0.25)/2, then (1 + 0.25 + 0.5)/3
    expect(run('AA')[0]!.mu).toBeCloseTo(0.625, 6);
    expect(run('AA')[1]!.mu).toBeCloseTo(1.75 / 3, 6);
    const rt = run('RT');
    expect(rt[0]!.mu).toBeCloseTo(0.25, 6);
    expect(rt[1]!.accepted).toBe(false); // 0.5 > 0.95 · 0.25
    // RM keeps the largest of the recent residuals, μ0 included: max(1, 0.25, 0.5)
    expect(run('RM')[1]!.mu).toBeCloseTo(1, 6);
  });

  it('rejects non-finite proposals', () => {
    const guard = safeguard({ learned: erase(scripted([NaN])), fallback: erase(sgd({ lr: 0.5 })) });
    const x0 = tf.tensor1d([0]);
    const [s1, report] = mustRound(guard, centering, guard.init(x0), [targets(2)]);
    expect(report.accepted).toBe(false);
    expect(scalarOf(s1.x)).toBe(1);
    disposeAll([x0, s1]);
  });
});
