import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, of, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { lossGuard } from '../src/guard/lossGuard.js';
import { plain } from '../src/guard/plain.js';
import type { RoundOptimizer, RoundState } from '../src/guard/round.js';
import { safeguard } from '../src/guard/safeguard.js';
import { adam } from '../src/optim/adam.js';
import { erase, type AnyOptimizer } from '../src/optim/optimizer.js';
import { constant, inversePower } from '../src/optim/schedule.js';
import { momentum, sgd } from '../src/optim/sgd.js';
import { disposeAll } from '../src/tensor/state.js';
import { SourceEndedError, train } from '../streams/train.js';
import { centering, runRound, scripted, targets } from './helpers.js';

/** Misuse of the library's API: each mistake is a clear error naming what was wrong, and nothing leaks. */
describe('optimizer options', () => {
  it.each([0, -0.1, NaN, Infinity])('sgd, momentum and adam refuse lr = %s, naming the optimizer', (lr) => {
    expect(() => sgd({ lr })).toThrow(`sgd: learning rate must be a positive number, got ${lr}`);
    expect(() => momentum({ lr })).toThrow(`momentum: learning rate must be a positive number, got ${lr}`);
    expect(() => adam({ lr })).toThrow(`adam: learning rate must be a positive number, got ${lr}`);
    expect(() => constant(lr)).toThrow(/constant: learning rate must be a positive number/);
    expect(() => inversePower(lr, 100)).toThrow(/inversePower: learning rate must be a positive number/);
  });

  it('refuses bad betas, epsilon, tau and power, and a schedule that yields a bad rate at the step it does', () => {
    expect(() => momentum({ lr: 0.1, beta: 1 })).toThrow('momentum: beta must be in [0, 1), got 1');
    expect(() => adam({ lr: 0.1, beta2: -1 })).toThrow('adam: beta2 must be in [0, 1), got -1');
    expect(() => adam({ lr: 0.1, epsilon: 0 })).toThrow('adam: epsilon must be a positive number, got 0');
    expect(() => inversePower(1, 0)).toThrow('inversePower: tau must be a positive number, got 0');
    expect(() => inversePower(1, 10, NaN)).toThrow('inversePower: power must be a positive number, got NaN');
    expect(() => sgd({ lr: '0.1' as unknown as number })).toThrow('sgd: lr must be a number or a schedule (t) => number, got string');
    const opt = sgd({ lr: (t) => 0.5 - t });
    const x = tf.tensor1d([1]);
    const g = tf.tensor1d([1]);
    const [x1, s1] = opt.step(x, g, opt.init(x));
    expect(x1.dataSync()[0]).toBeCloseTo(0.5, 6);
    expect(() => opt.step(x1, g, s1)).toThrow('sgd: the learning rate at step 1 must be a positive number, got -0.5');
    disposeAll([x, g, x1]);
  });

  it('lossGuard and safeguard without an optimizer name the missing option', () => {
    const fallback = erase(sgd({ lr: 0.1 }));
    expect(() => lossGuard({ fallback } as never)).toThrow(
      'lossGuard: options.learned: expected an optimizer { name, init(params), step(params, grads, state) }, got undefined',
    );
    expect(() => lossGuard({ learned: fallback } as never)).toThrow(/^lossGuard: options\.fallback: expected an optimizer/);
    expect(() => safeguard({ learned: { init: 1 } } as never)).toThrow(/^safeguard: options\.learned: expected an optimizer/);
    expect(() => plain(undefined as never)).toThrow(/^plain: expected an optimizer/);
  });
});

/** A learned optimizer that returns `length` zeros whatever the parameters. */
const wrongLength = (length: number): AnyOptimizer =>
  erase({ name: 'mis-sized', init: () => ({}), step: () => [tf.zeros([length]) as tf.Tensor1D, {}] as const });

/** Steps like `scripted([0.5])` but throws on its `failAt`-th call. */
function throwingAt(failAt: number): AnyOptimizer {
  return erase({
    name: 'throwing',
    init: () => ({ calls: 0 }),
    step: (x: tf.Tensor1D, _g: tf.Tensor1D, { calls }: { calls: number }) => {
      if (calls + 1 === failAt) throw new Error('learned step failed');
      return [tf.tidy(() => x.add(0.5) as tf.Tensor1D), { calls: calls + 1 }] as const;
    },
  });
}

describe('learned optimizers that misbehave inside a round', () => {
  it('a wrong-length result is an error naming the optimizer and both lengths, for every guard', () => {
    const x0 = tf.tensor1d([0]);
    const message = 'mis-sized: step returned a tensor of shape [3] for 1 parameters (expected a vector of 1 values)';
    const before = tf.memory().numTensors;
    const guards: RoundOptimizer<RoundState>[] = [
      plain(wrongLength(3)),
      lossGuard({ learned: wrongLength(3), fallback: erase(sgd({ lr: 0.5 })), k: 2, m: 1 }),
      safeguard({ learned: wrongLength(3), fallback: erase(sgd({ lr: 0.5 })) }),
    ] as never;
    for (const guard of guards) {
      const s0 = guard.init(x0);
      const made = tf.memory().numTensors;
      expect(() => runRound(guard, centering, s0, [targets(1), targets(1), targets(1)].slice(0, guard.batchesNeeded(s0)))).toThrow(message);
      expect(tf.memory().numTensors).toBe(made);
      disposeAll(s0);
    }
    expect(tf.memory().numTensors).toBe(before);
    x0.dispose();
  });

  it.each([1, 2, 3])('a learned step that throws at call %i of a k = 3 rollout leaks no tensor, and the state stays usable', (failAt) => {
    const guard = lossGuard({ learned: throwingAt(failAt), fallback: erase(sgd({ lr: 0.5 })), k: 3, m: 2, anchor: true });
    const x0 = tf.tensor1d([0]);
    const s0 = guard.init(x0);
    const before = tf.memory().numTensors;
    const batches = [targets(1), targets(1), targets(1), targets(2), targets(2)];
    expect(() => runRound(guard, centering, s0, batches)).toThrow('learned step failed');
    expect(tf.memory().numTensors).toBe(before);
    expect(s0.x.dataSync()[0]).toBe(0);
    disposeAll([x0, s0]);
  });
});

describe('the train operator when its source ends first', () => {
  it('errors naming the step and the batches of the unfinished round', async () => {
    const guard = lossGuard({ learned: erase(scripted([0.1])), fallback: erase(sgd({ lr: 0.5 })), k: 2, m: 2 });
    const before = tf.memory().numTensors;
    // 7 batches: one round of 4, then 3 of the next round's 4.
    const source = of(...Array.from({ length: 7 }, () => targets(1)));
    const err = await lastValueFrom(source.pipe(train({ objective: centering, optimizer: guard, steps: 100 }), toArray())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceEndedError);
    expect((err as Error).message).toBe('train: the source ended at step 2 of 100, with 3 of the 4 batches the next round needs unused');
    expect(tf.memory().numTensors).toBe(before);
  });

  it('with untilSourceEnds completes after the last whole round and reports the unused batches', async () => {
    const guard = lossGuard({ learned: erase(scripted([0.1])), fallback: erase(sgd({ lr: 0.5 })), k: 2, m: 2 });
    const ends: unknown[] = [];
    const source = of(...Array.from({ length: 11 }, () => targets(1)));
    const events = await lastValueFrom(
      source.pipe(train({ objective: centering, optimizer: guard, steps: 100, untilSourceEnds: true, onSourceEnd: (e) => ends.push(e) }), toArray()),
    );
    expect(events.map((e) => e.step)).toEqual([2, 4]);
    expect(ends).toEqual([{ step: 4, unused: 3, needed: 4 }]);
  });

  it('refuses, before they pile up, rounds whose batches exceed maxRoundBytes', async () => {
    const guard = lossGuard({ learned: erase(scripted([0.1])), fallback: erase(sgd({ lr: 0.5 })), k: 600, m: 600 });
    // A batch of 1 000 examples × (1 feature + 1 label) × 4 bytes = 8 000 bytes; 1 200 of them = 9.6 MB.
    const batch = { x: new Float32Array(1000), y: new Float32Array(1000), shape: [1], size: 1000 };
    const err = await lastValueFrom(of(batch).pipe(train({ objective: centering, optimizer: guard, steps: 10, maxRoundBytes: 8e6 }))).catch((e: unknown) => e);
    expect((err as Error).message).toBe('train: lgl2o needs 1200 batches of 7.81 KiB per round, 9.16 MiB, more than the limit of 7.63 MiB');
  });
});
