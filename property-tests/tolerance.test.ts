import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sgd } from '../src/optim/sgd.js';
import { Rng } from '../src/tensor/rng.js';
import { Tally } from './support/claims.js';
import { buildProblem, problemSpecs, type ProblemSpec } from './support/exactProblem.js';
import { fcParams } from './support/fcRun.js';
import { norm } from './support/linalg.js';
import { lossErrorUnit, residualErrorUnit, U32 } from '../src/verify/tolerance.js';

/**
 * The float32 error model behind the theory-mode tolerances (src/verify/tolerance.ts), checked
 * on random points: the tfjs loss and the tfjs residual ‖x − (x − ∇f/L)‖ against their float64
 * values. The tolerances of the claims are multiples of these units.
 */

type Direction = 'random' | 'flattest' | 'nearMinimum';

interface Case {
  readonly problem: ProblemSpec;
  readonly direction: Direction;
  readonly log10Size: number;
  readonly seed: number;
}

const cases: fc.Arbitrary<Case> = fc.record({
  problem: problemSpecs(),
  direction: fc.constantFrom<Direction>('random', 'flattest', 'nearMinimum'),
  log10Size: fc.double({ min: -3, max: 3, noNaN: true }),
  seed: fc.nat(),
});

/** Asserted bounds, in units; the largest seen in calibration runs is in property-tests/README.md. */
const LOSS_UNITS = 1.5;
const RESIDUAL_UNITS = 2;

describe('float32 error model of the exact quadratic', () => {
  it(`tfjs loss within ${LOSS_UNITS} units and residual within ${RESIDUAL_UNITS} units of float64 (200 cases)`, () => {
    const lossTally = new Tally();
    const residualTally = new Tally();
    const before = tf.memory().numTensors;
    fc.assert(
      fc.property(cases, (c) => {
        const p = buildProblem(c.problem);
        try {
          const rng = Rng.seeded(c.seed);
          const dir = c.direction === 'flattest' ? p.flatDirection() : Float64Array.from({ length: p.dim }, () => rng.normal());
          const size = (10 ** c.log10Size * (c.direction === 'nearMinimum' ? 1e-4 : 1) * Math.max(p.minimumNorm, 1e-3)) / norm(dir);
          const y = Float32Array.from(p.q.minimum, (v, i) => v + size * dir[i]!);
          const e = Float64Array.from(y, (v, i) => v - p.q.minimum[i]!);
          const f = p.f(y);
          const gradNorm = Math.sqrt(p.gradNormSq(y));
          const yt = tf.tensor1d(y);
          const { loss, grad } = p.q.lossAndGrad(yt, p.batch);
          const [stepped] = sgd({ lr: 1 / p.L }).step(yt, grad, { t: 0 });
          const residual = tf.tidy(() => yt.sub(stepped).norm().dataSync()[0]!);
          const lossValue = loss.dataSync()[0]!;
          tf.dispose([yt, loss, grad, stepped]);

          // The unit at y, and the bound on it from f(y) alone that the claims use.
          const unit = U32 * (p.L * norm(e) ** 2 + 2 * Math.sqrt(p.dim) * f + gradNorm * (p.minimumNorm + norm(y)));
          expect(unit).toBeLessThanOrEqual(lossErrorUnit(p, f) * (1 + 1e-9) + 1e-300);
          lossTally.use(Math.abs(lossValue - f), 0, unit);
          expect(Math.abs(lossValue - f), `loss ${lossValue} vs ${f}`).toBeLessThanOrEqual(LOSS_UNITS * unit);

          const r = gradNorm / p.L;
          const rUnit = residualErrorUnit(p, r, norm(y));
          residualTally.use(Math.abs(residual - r), 0, rUnit);
          expect(Math.abs(residual - r), `residual ${residual} vs ${r}`).toBeLessThanOrEqual(RESIDUAL_UNITS * rUnit);
        } finally {
          p.dispose();
        }
      }),
      fcParams('float32 error model', 200),
    );
    console.info(
      `[property] float32 error model: largest loss error ${lossTally.maxToleranceUsed.toFixed(3)} units, residual error ${residualTally.maxToleranceUsed.toFixed(3)} units`,
    );
    expect(tf.memory().numTensors).toBe(before);
  });
});
