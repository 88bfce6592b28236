/**
 * Deliberately BROKEN guards. Each property is also run against one of these and must find a
 * counterexample: a property that a broken guard passes would not be testing the guard.
 * They call the real guard and then overrule its decision, so everything else (state,
 * anchor run, reports) is the real code's.
 */
import * as E from 'fp-ts/lib/Either.js';
import { lossGuard, type LossGuardOptions, type LossGuardState } from '../../src/guard/lossGuard.js';
import { rollout } from '../../src/guard/rollout.js';
import type { RoundOptimizer } from '../../src/guard/round.js';
import { safeguard, type SafeguardOptions, type SafeguardState } from '../../src/guard/safeguard.js';
import { disposeAll, disposeReplaced } from '../../src/tensor/state.js';

/** The loss guard that always keeps the learned candidate, whatever the losses say. */
export function alwaysLearned(options: LossGuardOptions): RoundOptimizer<LossGuardState> {
  const inner = lossGuard(options);
  return {
    ...inner,
    name: `${inner.name} (BROKEN: always learned)`,
    round: (objective, s, batches) => {
      const learned = rollout(objective, options.learned, { x: s.x, opt: s.learned }, batches.slice(0, s.k));
      const result = inner.round(objective, s, batches);
      disposeAll(learned.opt);
      if (E.isLeft(result)) {
        learned.x.dispose();
        return result;
      }
      const [next, report] = result.right;
      const forced: LossGuardState = { ...next, x: learned.x };
      disposeReplaced(next, [forced, s]);
      return E.right([forced, report] as const);
    },
  };
}

/**
 * The anchored guard that runs its anchor but never lets it win: it decides between the
 * learned and fallback candidates only, by the paper's strict rule (the plain guard's).
 */
export function ignoresAnchor(options: Omit<LossGuardOptions, 'anchor' | 'decision'>): RoundOptimizer<LossGuardState> {
  const inner = lossGuard({ ...options, anchor: true, decision: 'strict' });
  return {
    ...inner,
    name: `${inner.name} (BROKEN: ignores the anchor)`,
    round: (objective, s, batches) => {
      const result = inner.round(objective, s, batches);
      if (E.isLeft(result) || result.right[1].winner !== 'anchor') return result;
      const [next, report] = result.right;
      const l = report.l2oLoss;
      const g = report.fallbackLoss ?? NaN;
      const learnedWins = l !== undefined && Number.isFinite(l) && (!Number.isFinite(g) || l < g);
      // The same rollout again (pure and deterministic) gives the candidate the plain rule keeps.
      const [opt, start] = learnedWins ? [options.learned, s.learned] : [options.fallback, s.fallback];
      const pick = rollout(objective, opt, { x: s.x, opt: start }, batches.slice(0, s.k));
      disposeAll(pick.opt);
      const forced: LossGuardState = { ...next, x: pick.x };
      disposeReplaced(next, [forced, s]);
      return E.right([forced, report] as const);
    },
  };
}

/** GL2O that accepts every learned proposal, whatever its residual. */
export function alwaysAccepts(options: SafeguardOptions): RoundOptimizer<SafeguardState> {
  const inner = safeguard(options);
  return {
    ...inner,
    name: `${inner.name} (BROKEN: always accepts)`,
    round: (objective, s, batches) => {
      const { loss, grad } = objective.lossAndGrad(s.x, batches[0]!);
      loss.dispose();
      const [y, learnedState] = options.learned.step(s.x, grad, s.learned);
      grad.dispose();
      disposeAll(learnedState);
      const result = inner.round(objective, s, batches);
      if (E.isLeft(result)) {
        y.dispose();
        return result;
      }
      const [next, report] = result.right;
      const forced: SafeguardState = { ...next, x: y };
      disposeReplaced(next, [forced, s]);
      return E.right([forced, report] as const);
    },
  };
}
