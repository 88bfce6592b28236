import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import { DecodeError } from '../src/codec/decode.js';
import { leastSquaresData } from '../src/data/leastSquares.js';
import { BatchSampler } from '../src/data/sampler.js';
import { lossGuard } from '../src/guard/lossGuard.js';
import { encodeCheckpoint } from '../src/l2o/weightsFile.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, randomWeights } from '../src/l2o/weights.js';
import { erase } from '../src/optim/optimizer.js';
import { sgd } from '../src/optim/sgd.js';
import { leastSquares } from '../src/optimizee/quadratic.js';
import { Rng } from '../src/tensor/rng.js';
import { EventThinner } from '../src/runs/logSpacing.js';
import { assertFiniteSplits } from '../jobs/prepareJob.js';
import { pulled } from '../streams/source.js';
import { train } from '../streams/train.js';
import { cliInProcess } from './cliProcess.js';
import { scripted } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lgl2o-diverge-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const data = leastSquaresData({ dim: 10, count: 2048, noise: 0.1 }, 7);
const objective = leastSquares(10);

/** The parameters saved in a run checkpoint, decoded from their float32 bytes. */
function savedParams(dir: string): Float32Array {
  const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { state: { x: { $tensor: { data: string } } } };
  const bytes = Buffer.from(ck.state.x.$tensor.data, 'base64');
  return new Float32Array(new Uint8Array(bytes).buffer);
}

describe('a learned optimizer that returns NaN', () => {
  it('loses every round, each event says why, and the run follows the fallback exactly', async () => {
    const [k, m, rounds, lr] = [3, 2, 20, 0.2];
    const guard = lossGuard({ learned: erase(scripted([NaN])), fallback: erase(sgd({ lr })), k, m });
    const sampler = new BatchSampler(data.train, 16, 5);
    let final: Float32Array | undefined;
    const events = await lastValueFrom(
      pulled(() => sampler.next()).pipe(
        train({ objective, optimizer: guard, steps: k * rounds, seed: 1, onFinish: (x) => ((final = Float32Array.from(x.dataSync())), x.dispose()) }),
        toArray(),
      ),
    );
    expect(events).toHaveLength(rounds);
    for (const e of events) expect([e.winner, e.useL2O, e.reason, e.l2oLoss]).toEqual(['fallback', 0, 'learned loss is NaN', NaN]);
    // The thinned log never drops such a round, even far past the dense part.
    const thinner = new EventThinner({ dense: 0, perDecade: 0 }, 1e9, 0);
    expect(events.every((e) => thinner.keep(e))).toBe(true);

    // Independently: SGD alone on the first k batches of each round (the m comparison batches move nothing).
    const replay = new BatchSampler(data.train, 16, 5);
    let x = Array.from(objective.init(Rng.seeded(1)).dataSync());
    for (let r = 0; r < rounds; r++) {
      for (let j = 0; j < k + m; j++) {
        const batch = replay.next();
        if (j >= k) continue;
        // ½ mean (a·x − y)² has gradient mean (a·x − y) a, computed here in float32 steps like the backend.
        const grad = new Float64Array(10);
        for (let i = 0; i < batch.size; i++) {
          let dot = 0;
          for (let d = 0; d < 10; d++) dot += batch.x[i * 10 + d]! * x[d]!;
          for (let d = 0; d < 10; d++) grad[d]! += ((dot - batch.y[i]!) * batch.x[i * 10 + d]!) / batch.size;
        }
        x = x.map((v, d) => Math.fround(v - lr * grad[d]!));
      }
    }
    expect(Array.from(final!).map((v, d) => Math.abs(v - x[d]!))).toEqual(x.map(() => expect.closeTo(0, 4)));
  });
});

describe('a diverging run', () => {
  it('stops with exit code 3, one line naming the step, and keeps the last finite checkpoint', async () => {
    const dir = join(root, 'sgd');
    const r = await cliInProcess([
      '-q',
      'run',
      '--task',
      'quadratic',
      '--optimizer',
      'sgd',
      '--lr',
      '3e7',
      '--steps',
      '500',
      '--checkpoint-every',
      '1',
      '--out',
      dir,
    ]);
    expect(r.code).toBe(3);
    const m = /^lgl2o: sgd: loss is (Infinity|NaN) at step (\d+); the last finite checkpoint \(step (\d+)\) is kept in (.+)\n$/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    const [divergedAt, keptStep] = [Number(m![2]), Number(m![3])];
    expect(keptStep).toBeLessThanOrEqual(divergedAt);
    expect(m![4]).toBe(join(dir, 'checkpoint.json'));
    const ck = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { step: number };
    expect(ck.step).toBe(keptStep);
    expect(savedParams(dir).every(Number.isFinite)).toBe(true);
    const meta = JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8')) as { outcome: string; divergence: { step: number } };
    expect(meta.outcome).toBe('diverged');
    expect(meta.divergence.step).toBe(divergedAt);
    const log = readFileSync(join(dir, 'events.ndjson'), 'utf8');
    expect(log.endsWith('\n')).toBe(true);
    expect(
      log
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { step: number }).step),
    ).toEqual(Array.from({ length: divergedAt }, (_, i) => i + 1));
  });

  it('of a guard whose learned optimizer and fallback both blow up exits 3 naming the step', async () => {
    // A learned optimizer whose every update is +∞: a head bias of 3e38 scaled by 1e6.
    const weights = randomWeights(DEFAULT_ARCHITECTURE, Rng.seeded(1));
    const json = encodeCheckpoint({ architecture: { ...DEFAULT_ARCHITECTURE, outScale: 1e6 }, weights, meta: {} }) as {
      weights: Record<string, { data: number[] }>;
    };
    disposeWeights(weights);
    json.weights['head.b']!.data = [3e38];
    const l2oPath = join(root, 'infinite-l2o.json');
    writeFileSync(l2oPath, JSON.stringify(json));
    const dir = join(root, 'guard');
    const r = await cliInProcess([
      '-q',
      'run',
      '--task',
      'quadratic',
      '--optimizer',
      'lgl2o',
      '--l2o',
      l2oPath,
      '--lr',
      '30',
      '--k',
      '2',
      '--m',
      '2',
      '--steps',
      '400',
      '--checkpoint-every',
      '1',
      '--out',
      dir,
    ]);
    expect(r.code).toBe(3);
    const m = /^lgl2o: lgl2o: both candidates have non-finite losses at step (\d+); the last finite checkpoint \(step (\d+)\) is kept in .+\n$/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![2])).toBeLessThan(Number(m![1]));
    // Every round before the end was lost by the learned optimizer, and says why.
    const lines = readFileSync(join(dir, 'events.ndjson'), 'utf8').trim().split('\n');
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) {
      const e = JSON.parse(line) as { winner: string; reason: string };
      expect(e.winner).toBe('fallback');
      expect(e.reason).toMatch(/^learned loss is (NaN|Infinity)$/);
    }
    expect(savedParams(dir).every(Number.isFinite)).toBe(true);
  });
});

describe('non-finite input data', () => {
  it('is rejected with the split and the sample index', () => {
    const x = new Float32Array(20).fill(0.5);
    x[7 * 2 + 1] = NaN;
    const ds = { name: 'toy/train', x, y: new Int32Array(10), shape: [2], count: 10, classes: 2 };
    const good = { ...ds, name: 'toy/test', x: new Float32Array(20) };
    expect(() => assertFiniteSplits({ train: good, test: good })).not.toThrow();
    let err: unknown;
    try {
      assertFiniteSplits({ train: good, test: ds });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toBe('toy/train: sample 7 has a non-finite feature (NaN) at index 1');
    const labels = { ...good, name: 'toy/validation', y: Float32Array.from({ length: 10 }, (_, i) => (i === 3 ? Infinity : 0)) };
    expect(() => assertFiniteSplits({ train: good, validation: labels, test: good })).toThrow('toy/validation: sample 3 has a non-finite label (Infinity)');
  });
});
