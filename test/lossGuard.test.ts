import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { lossGuard } from '../src/guard/lossGuard.js';
import { decide } from '../src/guard/decide.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { adam } from '../src/optim/adam.js';
import type { Objective } from '../src/optimizee/objective.js';
import { disposeAll } from '../src/tensor/state.js';
import { centering, mustRound, runRound, scalarOf, scripted, targets } from './helpers.js';

const half = erase(sgd({ lr: 0.5 })); // on `centering`, x ← x − 0.5 (x − ȳ): halfway to the batch mean

describe('loss guard (LGL2O, docs/algorithms.md §4)', () => {
  it('keeps the learned candidate when its mean comparison loss is strictly lower', () => {
    // x0 = 0; train batches pull towards 4; learned jumps +4 per step, fallback goes halfway.
    const guard = lossGuard({ learned: erase(scripted([4])), fallback: half, k: 1, m: 2 });
    const x0 = tf.tensor1d([0]);
    const s0 = guard.init(x0);
    const [s1, report] = mustRound(guard, centering, s0, [targets(4), targets(4), targets(6)]);
    // xL = 4, xG = 2; comparison on targets 4 and 6: L: mean(0, 2) = 1; G: mean(2, 8) = 5
    expect(scalarOf(s1.x)).toBe(4);
    expect(report).toMatchObject({ steps: 1, useL2O: 1, winner: 'learned', l2oLoss: 1, fallbackLoss: 5, loss: 1, k: 1, m: 2 });
    expect(s1.step).toBe(1);
    disposeAll([x0, s1]);
  });

  it('takes the fallback on a tie (criterion (1) is strict)', () => {
    // learned jumps +4 → 4, fallback → 2; comparison target 3 gives both loss ½.
    const guard = lossGuard({ learned: erase(scripted([4])), fallback: half, k: 1, m: 1 });
    const x0 = tf.tensor1d([0]);
    const [s1, report] = mustRound(guard, centering, guard.init(x0), [targets(4), targets(3)]);
    expect(report.l2oLoss).toBe(report.fallbackLoss);
    expect(report).toMatchObject({ useL2O: 0, winner: 'fallback' });
    expect(scalarOf(s1.x)).toBe(2);
    disposeAll([x0, s1]);
  });

  it('runs both rollouts on the same k batches and compares on the m batches after them', () => {
    const seen: string[] = [];
    const recording: Objective = {
      ...centering,
      lossAndGrad: (x, b) => {
        seen.push(`grad@${b.y.dataSync()[0]}`);
        return centering.lossAndGrad(x, b);
      },
      perExampleLoss: (x, b) => {
        seen.push(`loss@${Array.from(b.y.dataSync()).join('+')}`);
        return centering.perExampleLoss(x, b);
      },
    };
    const guard = lossGuard({ learned: erase(scripted([1])), fallback: half, k: 3, m: 2 });
    const x0 = tf.tensor1d([0]);
    const [s1] = mustRound(guard, recording, guard.init(x0), [targets(1), targets(2), targets(3), targets(10), targets(20)]);
    // learned rollout, fallback rollout: batches 1, 2, 3 each; then both candidates on 10 and 20 together.
    expect(seen).toEqual(['grad@1', 'grad@2', 'grad@3', 'grad@1', 'grad@2', 'grad@3', 'loss@10+20', 'loss@10+20']);
    disposeAll([x0, s1]);
  });

  it('advances the fallback schedule by k every round, whoever wins', () => {
    const guard = lossGuard({ learned: erase(scripted([100])), fallback: half, k: 2, m: 1 });
    const x0 = tf.tensor1d([0]);
    let s = guard.init(x0);
    for (let r = 0; r < 3; r++) [s] = mustRound(guard, centering, s, [targets(1), targets(1), targets(1)]);
    expect(s.fallback['t']).toBe(6);
    expect(s.learned['calls']).toBe(6); // the learned state continues from its own rollouts (policy keep)
    expect(s.step).toBe(6);
    disposeAll([x0, s]);
  });

  it('treats a non-finite learned loss as a loss and says why', () => {
    const guard = lossGuard({ learned: erase(scripted([NaN])), fallback: half, k: 1, m: 1 });
    const x0 = tf.tensor1d([0]);
    const [s1, report] = mustRound(guard, centering, guard.init(x0), [targets(2), targets(2)]);
    expect(report).toMatchObject({ useL2O: 0, winner: 'fallback' });
    expect(report.reason).toMatch(/learned loss is NaN/);
    expect(scalarOf(s1.x)).toBe(1);
    disposeAll([x0, s1]);
  });

  it('restarts a learned optimizer whose rollout went non-finite, whatever the state policy', () => {
    // Offsets by call count: NaN, NaN, 1. Its own state after round 1 (calls = 1) would give NaN
    // again; its reset state (calls = 2) gives +1.
    const nanOnce = { ...scripted([NaN, NaN, 1]), reset: () => ({ calls: 2 }) };
    const guard = lossGuard({ learned: erase(nanOnce), fallback: half, k: 1, m: 1 });
    const x0 = tf.tensor1d([0]);
    let [s, report] = mustRound(guard, centering, guard.init(x0), [targets(2), targets(2)]);
    expect(report.winner).toBe('fallback');
    expect(s.learned['calls']).toBe(2); // reset, not the rollout's own state
    [s, report] = mustRound(guard, centering, s, [targets(2), targets(2)]);
    expect(report).toMatchObject({ winner: 'learned', l2oLoss: 0 }); // from x = 1, +1 lands on the target
    disposeAll([x0, s]);
  });

  it('picks the learned candidate when only the fallback is non-finite', () => {
    const guard = lossGuard({ learned: erase(scripted([1])), fallback: erase(scripted([Infinity])), k: 1, m: 1 });
    const x0 = tf.tensor1d([0]);
    const [s1, report] = mustRound(guard, centering, guard.init(x0), [targets(2), targets(2)]);
    expect(report).toMatchObject({ useL2O: 1, winner: 'learned' });
    expect(report.reason).toMatch(/fallback loss is/);
    disposeAll([x0, s1]);
  });

  it('stops with a divergence naming the step when both candidates are non-finite, keeping the state', () => {
    const guard = lossGuard({ learned: erase(scripted([Infinity])), fallback: erase(scripted([Infinity])), k: 2, m: 1 });
    const x0 = tf.tensor1d([0]);
    const s0 = guard.init(x0);
    const before = tf.memory().numTensors;
    const r = runRound(guard, centering, s0, [targets(2), targets(2), targets(2)]);
    expect(E.isLeft(r) && r.left).toMatchObject({ kind: 'diverged', step: 0 });
    expect(E.isLeft(r) && (r.left as { message: string }).message).toMatch(/non-finite.*at step 2/);
    expect(scalarOf(s0.x)).toBe(0); // the last good state is intact
    expect(tf.memory().numTensors).toBe(before);
    disposeAll([x0, s0]);
  });

  it('resets the unchosen optimizer under statePolicy reset, keeping its clock', () => {
    const guard = lossGuard({ learned: erase(scripted([100])), fallback: erase(adam({ lr: 0.1 })), k: 1, m: 1, statePolicy: 'reset' });
    const x0 = tf.tensor1d([0]);
    const [s1, report] = mustRound(guard, centering, guard.init(x0), [targets(1), targets(1)]);
    expect(report.winner).toBe('fallback');
    expect(s1.learned['calls']).toBe(0); // scripted has no reset: init
    expect(s1.fallback['t']).toBe(1);
    disposeAll([x0, s1]);
  });

  it('paired test takes the learned candidate only when the mean difference is below −z·stderr', () => {
    // learned → 1 (+1), fallback → 0.5 (halfway to 1). Comparison targets 1, 1, 0.6:
    // per-batch L: 0, 0, 0.08; G: 0.125, 0.125, 0.005; diffs −0.125, −0.125, 0.075.
    const batches = [targets(1), targets(1), targets(1), targets(0.6)];
    const diffs = [-0.125, -0.125, 0.075];
    const mean = diffs.reduce((a, b) => a + b) / 3;
    const sd = Math.sqrt(diffs.reduce((a, d) => a + (d - mean) ** 2, 0) / 2);
    const zCrit = -mean / (sd / Math.sqrt(3)); // ≈ 0.756
    for (const [z, winner] of [
      [zCrit - 0.05, 'learned'],
      [zCrit + 0.05, 'fallback'],
    ] as const) {
      const guard = lossGuard({ learned: erase(scripted([1])), fallback: half, k: 1, m: 3, decision: 'paired', z });
      const x0 = tf.tensor1d([0]);
      const [s1, report] = mustRound(guard, centering, guard.init(x0), batches);
      expect(report.winner).toBe(winner);
      disposeAll([x0, s1]);
    }
  });

  it('grows k and m together when the candidates overlap within one standard deviation', () => {
    const guard = lossGuard({ learned: erase(scripted([1])), fallback: half, k: 2, m: 3, adaptive: { growth: 2, maxK: 8, shrink: false } });
    const x0 = tf.tensor1d([0]);
    // comparison targets spread widely: the candidates' intervals overlap
    const [s1] = mustRound(guard, centering, guard.init(x0), [targets(1), targets(1), targets(-5), targets(5), targets(0)]);
    expect([s1.k, s1.m]).toEqual([4, 6]);
    expect(guard.batchesNeeded(s1)).toBe(10);
    disposeAll([x0, s1]);
  });
});

describe('anchored guard (docs/algorithms.md §4b)', () => {
  it('jumps onto the anchor run when it is at least as good, and the anchor continues on its own', () => {
    // A learned optimizer that first wins by a little (→ 1 on target 1.2) then runs away.
    const guard = lossGuard({ learned: erase(scripted([1, 50, 50, 50])), fallback: half, k: 1, m: 1, anchor: true });
    const x0 = tf.tensor1d([0]);
    let s = guard.init(x0);
    let report;
    [s, report] = mustRound(guard, centering, s, [targets(2), targets(1.2)]);
    // xL = 1 (loss 0.02), xG = 1 (loss 0.02, tie), anchor = 1 too: all tie → anchor wins ties.
    expect(report.winner).toBe('anchor');
    [s, report] = mustRound(guard, centering, s, [targets(2), targets(2)]);
    // from x = 1: xL = 51, xG = 1.5; anchor from 1 → 1.5 as well: tie → anchor.
    expect(report.winner).toBe('anchor');
    expect(scalarOf(s.anchor!.x)).toBe(1.5);
    expect(report.anchorLoss).toBe(report.fallbackLoss);
    disposeAll([x0, s]);
  });

  it('keeps the learned candidate when it beats the anchor, while the anchor run goes on from x0', () => {
    const guard = lossGuard({ learned: erase(scripted([2])), fallback: half, k: 1, m: 1, anchor: true });
    const x0 = tf.tensor1d([0]);
    let s = guard.init(x0);
    let report;
    [s, report] = mustRound(guard, centering, s, [targets(2), targets(2)]);
    expect(report).toMatchObject({ winner: 'learned', useL2O: 1, l2oLoss: 0, fallbackLoss: 0.5, anchorLoss: 0.5 });
    [s, report] = mustRound(guard, centering, s, [targets(2), targets(2)]);
    // the anchor went 0 → 1 → 1.5 on its own, independent of the chosen x = 2 → 4
    expect(scalarOf(s.anchor!.x)).toBe(1.5);
    // from x = 2: xL = 4 (loss 2), xG = 2 (at the target: loss 0), anchor 1.5 (loss 0.125)
    expect(report).toMatchObject({ winner: 'fallback', l2oLoss: 2, fallbackLoss: 0, anchorLoss: 0.125 });
    disposeAll([x0, s]);
  });

  it('under the paired test leaves the anchor only on a significant difference', () => {
    // learned vs fallback: differences −0.4, −0.2, −0.3 (significant at z = 1.64)
    const learned = [0.1, 0.3, 0.2];
    const fallback = [0.5, 0.5, 0.5];
    // learned vs anchor: −0.11, +0.11, −0.03: mean −0.01, stderr ≈ 0.064 — a lucky draw, not a difference
    const noisyAnchor = [0.21, 0.19, 0.23];
    expect(decide({ learned, fallback, anchor: noisyAnchor }, 'strict', { z: 1.64 })).toEqual({ kind: 'chosen', winner: 'learned' });
    expect(decide({ learned, fallback, anchor: noisyAnchor }, 'paired', { z: 1.64 })).toEqual({ kind: 'chosen', winner: 'anchor' });
    // every batch 0.3 lower than the anchor: significant
    expect(decide({ learned, fallback, anchor: [0.4, 0.6, 0.5] }, 'paired', { z: 1.64 })).toEqual({ kind: 'chosen', winner: 'learned' });
  });
});

describe('probing with back-off', () => {
  it('skips the learned rollout for 2^min(r, R) − 1 rounds after r lost rounds', () => {
    const guard = lossGuard({ learned: erase(scripted([100])), fallback: half, k: 1, m: 1, backoff: 2 });
    const x0 = tf.tensor1d([0]);
    let s = guard.init(x0);
    const probed: boolean[] = [];
    for (let r = 0; r < 10; r++) {
      let report;
      [s, report] = mustRound(guard, centering, s, [targets(1), targets(1)]);
      probed.push(report.probed!);
    }
    // lose at round 0 (r=1 → skip 1), lose at 2 (r=2 → skip 3), lose at 6 (r=3 → capped at R=2 → skip 3)
    expect(probed).toEqual([true, false, true, false, false, false, true, false, false, false]);
    disposeAll([x0, s]);
  });
});
