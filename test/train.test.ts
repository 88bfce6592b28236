import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, toArray, take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { leastSquaresData } from '../src/data/leastSquares.js';
import { lossGuard } from '../src/guard/lossGuard.js';
import { plain } from '../src/guard/plain.js';
import { safeguard } from '../src/guard/safeguard.js';
import { l2o } from '../src/l2o/lstm.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { leastSquares } from '../src/optimizee/quadratic.js';
import { Rng } from '../src/tensor/rng.js';
import { batches$ } from '../streams/source.js';
import { DivergenceError, train } from '../streams/train.js';
import { centering, scripted, targets } from './helpers.js';
import { of } from 'rxjs';

const data = leastSquaresData({ dim: 10, count: 4096, noise: 0.1 }, 5);
const objective = leastSquares(10);

describe('train operator', () => {
  it('keeps tf.memory().numTensors flat over 2 000 guarded steps', async () => {
    const weights = randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(2));
    const guard = lossGuard({ learned: erase(l2o(weights)), fallback: erase(sgd({ lr: 0.5 })), k: 10, m: 10, anchor: true });
    const counts = new Map<number, number>();
    const events = await lastValueFrom(
      batches$(data.train, { batchSize: 32, seed: 1 }).pipe(
        train({ objective, optimizer: guard, steps: 2000, seed: 3, onRound: (_s, e) => counts.set(e.step, tf.memory().numTensors) }),
        toArray(),
      ),
    );
    expect(events.length).toBe(200);
    expect(events.at(-1)!.step).toBe(2000);
    expect(counts.get(100)).toBeDefined();
    expect(counts.get(2000)).toBe(counts.get(100));
    disposeWeights(weights);
  });

  it('frees the run state when it completes or is unsubscribed early', async () => {
    const before = tf.memory().numTensors;
    await lastValueFrom(batches$(data.train, { batchSize: 32, seed: 1 }).pipe(train({ objective, optimizer: plain(sgd({ lr: 0.1 })), steps: 50 })));
    await lastValueFrom(batches$(data.train, { batchSize: 32, seed: 1 }).pipe(train({ objective, optimizer: plain(sgd({ lr: 0.1 })), steps: 50 }), take(3)));
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same events for the same seeds', async () => {
    const run = () =>
      lastValueFrom(
        batches$(data.train, { batchSize: 32, seed: 9 }).pipe(
          train({ objective, optimizer: safeguard({ learned: erase(scripted([0.01])), fallback: erase(sgd({ lr: 0.5 })) }), steps: 30, seed: 4 }),
          toArray(),
        ),
      );
    const [a, b] = [await run(), await run()];
    expect(a.map((e) => e.loss)).toEqual(b.map((e) => e.loss));
    expect(a.map((e) => e.useL2O)).toEqual(b.map((e) => e.useL2O));
  });

  it('reduces the least-squares loss with SGD and reports events per step', async () => {
    const events = await lastValueFrom(
      batches$(data.train, { batchSize: 64, seed: 2 }).pipe(train({ objective, optimizer: plain(sgd({ lr: 0.5 })), steps: 300, seed: 1 }), toArray()),
    );
    expect(events.map((e) => e.step)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const early = events.slice(0, 10).reduce((a, e) => a + e.loss, 0) / 10;
    const late = events.slice(-10).reduce((a, e) => a + e.loss, 0) / 10;
    expect(late).toBeLessThan(early / 5);
    expect(late).toBeLessThan(0.05); // noise 0.1 gives ½σ² = 0.005 at the optimum
  });

  it('errors with a DivergenceError naming the step when the optimizer diverges', async () => {
    const guard = lossGuard({ learned: erase(scripted([Infinity])), fallback: erase(scripted([Infinity])), k: 1, m: 1 });
    const source = of(targets(1), targets(1), targets(1), targets(1));
    const err = await lastValueFrom(source.pipe(train({ objective: centering, optimizer: guard, steps: 4, initialParams: tf.tensor1d([0]) }))).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DivergenceError);
    expect((err as DivergenceError).divergence.step).toBe(0);
  });
});
