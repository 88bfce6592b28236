import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, take, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareJob } from '../jobs/prepareJob.js';
import { runJob, runPrepared } from '../jobs/runJob.js';
import { buildHandDesigned } from '../src/config/build.js';
import type { RunConfig } from '../src/config/run.js';
import type { Batch } from '../src/data/batch.js';
import { leastSquaresData } from '../src/data/leastSquares.js';
import { lossGuard } from '../src/guard/lossGuard.js';
import { plain } from '../src/guard/plain.js';
import type { RoundOptimizer, RoundState } from '../src/guard/round.js';
import { erase, type Optimizer } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { leastSquares } from '../src/optimizee/quadratic.js';
import { DEFAULT_SETTINGS } from '../src/runs/settings.js';
import { batches$ } from '../streams/source.js';
import { train } from '../streams/train.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-shared-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A learned optimizer that never wins: every proposal is NaN. */
const nanProposer: Optimizer<{ calls: number }> = {
  name: 'nan',
  init: () => ({ calls: 0 }),
  step: (x, _g, { calls }) => [tf.tidy(() => x.add(NaN) as tf.Tensor1D), { calls: calls + 1 }],
};

const base = { task: 'mlp-spirals', steps: 300, seed: 4, evalEvery: 50 } as const;
const settings = { ...DEFAULT_SETTINGS, log: { dense: 1_000_000, perDecade: 0 } };
const opts = (name: string) => ({ outDir: join(root, name), backend: 'wasm', progress: false, settings });

/** The run's final parameters (as the checkpoint encodes them) and its test losses by step. */
function outcome(name: string): { x: unknown; testLoss: Map<number, number> } {
  const dir = join(root, name);
  const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { state: { x: unknown } };
  const events = readFileSync(join(dir, 'events.ndjson'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; testLoss?: number });
  return { x: ck.state.x, testLoss: new Map(events.filter((e) => e.testLoss !== undefined).map((e) => [e.step, e.testLoss!])) };
}

describe('a guard trains on the batches of the fallback run of the same seed', () => {
  it.each([true, false])('with a learned optimizer that never wins, equals --optimizer sgd bit for bit (anchor: %s)', async (anchor) => {
    await runJob({ ...base, optimizer: { type: 'sgd' } } as RunConfig, opts(`sgd-${anchor}`));
    const config = { ...base, optimizer: { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, anchor } } as RunConfig;
    const job = prepareJob(config, opts(`guard-${anchor}`));
    const fallback = buildHandDesigned({ type: 'sgd' }, job.task.defaults);
    const guard = lossGuard({ learned: erase(nanProposer), fallback, anchor }) as unknown as RoundOptimizer<RoundState>;
    await runPrepared({ ...job, optimizer: guard }, opts(`guard-${anchor}`));

    const sgd = outcome(`sgd-${anchor}`);
    const guarded = outcome(`guard-${anchor}`);
    expect(guarded.x).toEqual(sgd.x);
    expect([...guarded.testLoss.keys()]).toEqual([50, 100, 150, 200, 250, 300]);
    for (const [step, loss] of guarded.testLoss) expect(loss).toBe(sgd.testLoss.get(step));
  });
});

describe('a guard on one stream (a live input)', () => {
  const data = leastSquaresData({ dim: 10, count: 4096, noise: 0.1 }, 5);
  const objective = leastSquares(10);
  const [k, m, rounds] = [3, 2, 5];

  /** The final parameters of a run over `source`. */
  const finalParams = async (source: readonly Batch[], optimizer: RoundOptimizer<RoundState>, steps: number): Promise<number[]> => {
    let x: number[] = [];
    const collect = (p: tf.Tensor1D) => {
      x = Array.from(p.dataSync());
      p.dispose();
    };
    await lastValueFrom(from(source).pipe(train({ objective, optimizer, steps, seed: 3, onFinish: collect })));
    return x;
  };

  it.each([false, true])('trains each round on its first k batches in arrival order and compares on the next m (anchor: %s)', async (anchor) => {
    const stream = await lastValueFrom(batches$(data.train, { batchSize: 32, seed: 1 }).pipe(take(rounds * (k + m)), toArray()));
    const guard = lossGuard({ learned: erase(nanProposer), fallback: erase(sgd({ lr: 0.3 })), k, m, anchor }) as unknown as RoundOptimizer<RoundState>;
    const guarded = await finalParams(stream, guard, rounds * k);
    // SGD alone on the stream without each round's last m batches
    const training = stream.filter((_, i) => i % (k + m) < k);
    const alone = plain(sgd({ lr: 0.3 })) as unknown as RoundOptimizer<RoundState>;
    expect(guarded).toEqual(await finalParams(training, alone, rounds * k));
    // and not on the stream's first k·rounds batches (the comparison batches are not trained on)
    expect(guarded).not.toEqual(await finalParams(stream.slice(0, rounds * k), alone, rounds * k));
  });
});
