import { describe, expect, it } from 'vitest';
import { criticalValue, decide } from '../src/guard/decide.js';
import { lossGuard } from '../src/guard/lossGuard.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { Rng } from '../src/tensor/rng.js';

describe('the paired rule as a level-α one-sided t test', () => {
  it("takes the critical value from Student's t with m − 1 degrees of freedom (tabulated values)", () => {
    // one-sided 5% points of t: df 1 → 6.314, 4 → 2.132, 9 → 1.833, 29 → 1.699; 1% at df 9 → 2.821
    expect(criticalValue({ alpha: 0.05 }, 2)).toBeCloseTo(6.314, 3);
    expect(criticalValue({ alpha: 0.05 }, 5)).toBeCloseTo(2.132, 3);
    expect(criticalValue({ alpha: 0.05 }, 10)).toBeCloseTo(1.833, 3);
    expect(criticalValue({ alpha: 0.05 }, 30)).toBeCloseTo(1.699, 3);
    expect(criticalValue({ alpha: 0.01 }, 10)).toBeCloseTo(2.821, 3);
    expect(criticalValue({ z: 1.64 }, 10)).toBe(1.64);
    // m = 1: no spread, the strict rule
    expect(criticalValue({ alpha: 0.05 }, 1)).toBe(0);
    expect(decide({ learned: [0.4], fallback: [0.5], anchor: null }, 'paired', { alpha: 0.05 })).toEqual({ kind: 'chosen', winner: 'learned' });
  });

  // Identical candidates: the learned candidate's per-batch losses and the fallback's are
  // independent draws of the same normal law, and the fallback candidate is the anchor's next
  // point (as when the guard sits on its anchor). Leaving the anchor is then a false positive.
  const trials = 40_000;
  // Without an anchor (the plain guard) the false positive is keeping the learned candidate.
  const leaveRate = (m: number, alpha: number, rng: Rng, z?: number, anchored = true): number => {
    let left = 0;
    for (let i = 0; i < trials; i++) {
      const learned = Array.from({ length: m }, () => 1 + rng.normal());
      const fallback = Array.from({ length: m }, () => 1 + rng.normal());
      const d = decide({ learned, fallback, anchor: anchored ? fallback : null }, 'paired', z === undefined ? { alpha } : { z });
      if (d.kind === 'chosen' && d.winner !== (anchored ? 'anchor' : 'fallback')) left++;
    }
    return left / trials;
  };
  const within99 = (rate: number, alpha: number) => {
    const half = 2.5758 * Math.sqrt((alpha * (1 - alpha)) / trials);
    expect(rate).toBeGreaterThanOrEqual(alpha - half);
    expect(rate).toBeLessThanOrEqual(alpha + half);
  };

  for (const m of [3, 5, 10, 30]) {
    it(`leaves the anchor at rate α (within its 99% binomial interval) for m = ${m}`, () => {
      const rng = Rng.seeded(1000 + m);
      within99(leaveRate(m, 0.05, rng), 0.05);
    });
    it(`keeps an identical learned candidate at rate α (within its 99% binomial interval) without an anchor, m = ${m}`, () => {
      within99(leaveRate(m, 0.05, Rng.seeded(2000 + m), undefined, false), 0.05);
    });
  }

  it('while the old fixed z = 1.64 overshoots the level at small m', () => {
    // P(T_4 > 1.64) ≈ 0.088 and P(T_2 > 1.64) ≈ 0.121: outside 5%'s interval
    expect(leaveRate(5, 0.05, Rng.seeded(7), 1.64)).toBeGreaterThan(0.075);
    expect(leaveRate(3, 0.05, Rng.seeded(8), 1.64)).toBeGreaterThan(0.1);
  });

  it('rejects a bad level with a one-line message', () => {
    const opt = erase(sgd({ lr: () => 0.1 }));
    expect(() => lossGuard({ learned: opt, fallback: opt, alpha: 1.5 })).toThrow('lossGuard: alpha must be in (0, 1), got 1.5');
    expect(() => lossGuard({ learned: opt, fallback: opt, alpha: 0 })).toThrow('lossGuard: alpha must be in (0, 1), got 0');
  });
});
