import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inProcessExecutor } from '../jobs/experiment/pool.js';
import { runTune } from '../jobs/experiment/tune.js';
import { BATCH_SEED_OFFSET, BatchSampler } from '../src/data/sampler.js';
import type { Dataset } from '../src/data/dataset.js';
import { gridProblem, meanLossOn, scoreOf, tunePoints, winnerOf, type TuneRow } from '../src/experiments/tune.js';
import { DEFAULT_POWER } from '../src/optim/schedule.js';
import { toTensorBatch, disposeTensorBatch } from '../src/optimizee/tensorBatch.js';
import { loadTask, type LoadedTask } from '../src/tasks/index.js';
import { Rng } from '../src/tensor/rng.js';
import { cliBundle, cliInProcess, removeCliBundle, runCli } from './cliProcess.js';

const tmp = mkdtempSync(join(tmpdir(), 'lgl2o-tune-'));
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  removeCliBundle();
});

const spirals = (seed: number): LoadedTask => {
  const t = loadTask('mlp-spirals', { seed });
  if (E.isLeft(t)) throw t.left;
  return t.right;
};

/** Mean loss on a whole split in one batch, through tfjs's own ops (no chunks). */
function directLoss(t: LoadedTask, x: tf.Tensor1D, ds: Dataset): number {
  const tb = toTensorBatch([{ x: ds.x, y: ds.y, shape: ds.shape, size: ds.count }]);
  try {
    return tf.tidy(() => t.objective.perExampleLoss(x, tb).mean().dataSync()[0]!);
  } finally {
    disposeTensorBatch(tb);
  }
}

/**
 * SGDnm written out here: x ← x − η0 (1 + t/τ)^(−1/p) ∇, with tf.grad of the batch's mean loss
 * on the batches a run of this seed draws; returns the final parameters.
 */
function trainDirectly(t: LoadedTask, seed: number, lr: number, tau: number, steps: number): tf.Tensor1D {
  const sampler = new BatchSampler(t.splits.train, 128, seed + BATCH_SEED_OFFSET);
  let x = t.objective.init(Rng.seeded(seed));
  for (let step = 0; step < steps; step++) {
    const tb = toTensorBatch([sampler.next()]);
    const eta = lr * Math.pow(1 + step / tau, -1 / DEFAULT_POWER);
    const next = tf.tidy(() => {
      const g = tf.grad((p: tf.Tensor) => t.objective.perExampleLoss(p as tf.Tensor1D, tb).mean())(x);
      return x.sub(g.mul(eta)) as tf.Tensor1D;
    });
    disposeTensorBatch(tb);
    x.dispose();
    x = next;
  }
  return x;
}

describe('tune: grid and scores', () => {
  it('lists SGDnm points (η0 × τ, the given power) then Adam points', () => {
    const points = tunePoints({ sgdLr: [0.1, 1], sgdTau: [100, 1000], adamLr: [0.001] }, 1.5);
    expect(points.map((p) => p.id)).toEqual(['sgd,lr=0.1,tau=100', 'sgd,lr=0.1,tau=1000', 'sgd,lr=1,tau=100', 'sgd,lr=1,tau=1000', 'adam,lr=0.001']);
    expect(points[3]!.config).toEqual({ type: 'sgd', lr: 1, tau: 1000, power: 1.5 });
  });
  it('scores a point by its mean over seeds, +∞ when a seed diverged; the winner is the lowest finite score', () => {
    expect(
      scoreOf([
        { seed: 0, validationLoss: 0.5, diverged: false },
        { seed: 1, validationLoss: 0.7, diverged: false },
      ]),
    ).toBeCloseTo(0.6, 12);
    expect(
      scoreOf([
        { seed: 0, validationLoss: 0.1, diverged: false },
        { seed: 1, validationLoss: Infinity, diverged: true },
      ]),
    ).toBe(Infinity);
    expect(scoreOf([{ seed: 0, validationLoss: NaN, diverged: false }])).toBe(Infinity);
    const row = (point: string, score: number, optimizer: 'sgd' | 'adam' = 'sgd'): TuneRow => ({
      point,
      optimizer,
      score,
      seeds: [],
      config: { type: optimizer },
    });
    expect(winnerOf([row('a', 0.3), row('b', Infinity), row('c', 0.2), row('d', 0.1, 'adam')], 'sgd')?.point).toBe('c');
    expect(winnerOf([row('a', Infinity)], 'sgd')).toBeUndefined();
  });
  it('refuses an empty grid, non-positive or repeated values, naming the flag', () => {
    expect(gridProblem({ sgdLr: [], sgdTau: [100], adamLr: [] })).toBe('the grid is empty: give at least one value to --sgd-lr or --adam-lr');
    expect(gridProblem({ sgdLr: [1], sgdTau: [], adamLr: [] })).toBe('--sgd-tau: no value (SGDnm needs at least one τ)');
    expect(gridProblem({ sgdLr: [1, -2], sgdTau: [100], adamLr: [] })).toBe('--sgd-lr -2: expected a positive number');
    expect(gridProblem({ sgdLr: [], sgdTau: [], adamLr: [NaN] })).toBe('--adam-lr NaN: expected a positive number');
    expect(gridProblem({ sgdLr: [1, 1], sgdTau: [100], adamLr: [] })).toBe('--sgd-lr: a value is repeated');
    expect(gridProblem({ sgdLr: [1], sgdTau: [100], adamLr: [0.01] })).toBeUndefined();
  });
  it('evaluates a split in chunks to the same mean as one pass', () => {
    const t = spirals(3);
    const x = t.objective.init(Rng.seeded(3));
    const ds = t.splits.validation!;
    expect(meanLossOn(t.objective, x, ds, 300)).toBeCloseTo(directLoss(t, x, ds), 5);
    x.dispose();
  });
});

describe('tune on mlp-spirals: the winner is the one a direct run finds', () => {
  const steps = 60;
  const lrs = [0.0001, 1, 1000];
  const tau = 50_000;
  it('trains each η0, scores it on the validation split (not the training or test split) and picks the best', async () => {
    const out = join(tmp, 'spirals');
    const outcome = await runTune({
      task: 'mlp-spirals',
      grid: { sgdLr: lrs, sgdTau: [tau], adamLr: [] },
      steps,
      seeds: 1,
      outDir: out,
      jobs: 1,
      executor: inProcessExecutor('wasm'),
      progress: false,
      commandLine: 'lgl2o tune (test)',
      backend: tf.getBackend(),
    });
    const t = spirals(0);
    const direct = lrs.map((lr) => {
      const x = trainDirectly(t, 0, lr, tau, steps);
      const losses = { validation: directLoss(t, x, t.splits.validation!), train: directLoss(t, x, t.splits.train), test: directLoss(t, x, t.splits.test) };
      x.dispose();
      return losses;
    });
    // η0 = 1e-4 barely moves from the start, η0 = 1000 is thrown far off: the middle one wins.
    const best = direct.reduce((b, d, i) => (d.validation < direct[b]!.validation ? i : b), 0);
    expect(best).toBe(1);
    expect(outcome.winners.sgd).toBe(`sgd,lr=${lrs[best]},tau=${tau}`);
    outcome.rows.forEach((row, i) => {
      const d = direct[i]!;
      // float32 sums in another order: equal to 1e-5 of the loss
      expect(Math.abs(row.score - d.validation)).toBeLessThan(1e-5 * Math.max(1, d.validation));
      // The score is the validation split's: it is not what the training or test split would give.
      expect(Math.abs(row.score - d.train)).toBeGreaterThan(1e-3);
      expect(Math.abs(row.score - d.test)).toBeGreaterThan(1e-3);
    });
    const saved = JSON.parse(readFileSync(join(out, 'tune.json'), 'utf8')) as { winners: unknown; rows: { point: string; score: number }[] };
    expect(saved.winners).toEqual({ sgd: `sgd,lr=1,tau=${tau}` });
    expect(saved.rows.map((r) => r.point)).toEqual(lrs.map((lr) => `sgd,lr=${lr},tau=${tau}`));
    expect(readFileSync(join(out, 'tune.md'), 'utf8')).toContain('| SGDnm | lr=1, tau=50000 |');
  }, 60_000);
});

describe('lgl2o tune: bad input', () => {
  it.each([
    [['--task', 'nope'], /--task.*nope.*Allowed choices are mlp-mnist/],
    [['--task', 'quadratic', '--steps', '5'], /--task quadratic: its data has no validation split to score on/],
    [['--task', 'mlp-spirals', '--sgd-lr', '0.1,abc'], /--sgd-lr.*expected comma-separated numbers, got "abc"/],
    [['--task', 'mlp-spirals', '--sgd-lr', ''], /--sgd-lr.*expected comma-separated numbers, got ""/],
    [['--task', 'mlp-spirals', '--adam-lr', '0.1,-1'], /--adam-lr.*expected positive numbers, got -1/],
    [['--task', 'mlp-spirals', '--sgd-tau', '100,100'], /--sgd-tau: a value is repeated/],
    [['--task', 'mlp-spirals', '--optimizers', 'sgd,rmsprop'], /--optimizers.*expected sgd, adam or sgd,adam, got "rmsprop"/],
    [['--task', 'mlp-spirals', '--steps', '0'], /--steps.*must be ≥ 1, got 0/],
  ])('tune %j fails with one clear line', async (args, message) => {
    const r = await cliInProcess(['tune', '--out', join(tmp, 'bad'), ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });
});

describe('lgl2o tune: output', () => {
  it('--json gives every point with its score and the winners; the table is printed without it', async () => {
    // the runs' processes are started with the bundle of the current sources
    const cli = JSON.stringify([process.execPath, await cliBundle()]);
    const args = ['tune', '--task', 'mlp-spirals', '--steps', '20', '--seeds', '1', '--sgd-lr', '0.01,1', '--adam-lr', '0.01', '--jobs', '2'];
    const env = process.env['LGL2O_CLI'];
    process.env['LGL2O_CLI'] = cli;
    try {
      const json = await runCli(['--json', '--quiet', ...args, '--out', join(tmp, 'json')]);
      expect(json.code).toBe(0);
      const out = JSON.parse(json.stdout) as { winners: Record<string, string>; rows: { point: string; score: number }[] };
      expect(out.rows.map((r) => r.point)).toEqual(['sgd,lr=0.01,tau=50000', 'sgd,lr=1,tau=50000', 'adam,lr=0.01']);
      const sgd = out.rows.slice(0, 2).reduce((a, b) => (b.score < a.score ? b : a));
      expect(out.winners).toEqual({ sgd: sgd.point, adam: 'adam,lr=0.01' });
      // a rerun into the same directory trains nothing again and prints the same scores as a table
      const text = await runCli([...args, '--out', join(tmp, 'json')]);
      expect(text.code).toBe(0);
      expect(text.stderr).toContain('3 of 3 runs already done');
      for (const r of out.rows) expect(text.stdout).toContain(`| ${r.score.toPrecision(4)} |`);
      expect(text.stdout).toMatch(/winners: SGDnm sgd,lr=[\d.]+,tau=50000; Adam adam,lr=0\.01/);
    } finally {
      if (env === undefined) delete process.env['LGL2O_CLI'];
      else process.env['LGL2O_CLI'] = env;
    }
  }, 120_000);
});
