import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildLearned } from '../src/config/build.js';
import { disposeCheckpoint, loadLstmCheckpoint } from '../src/l2o/weightsFile.js';
import { MetaTrainSettingsCodec } from '../src/meta/snapshot.js';
import { DEFAULT_ARCHITECTURE } from '../src/l2o/weights.js';
import { defaultCheckpointPath } from '../src/l2o/shipped.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';
import { cliInProcess } from './cliProcess.js';

const SHIPPED = ['mlp-mnist', 'conv-mnist'] as const;

describe('shipped checkpoints', () => {
  it.each(SHIPPED.map((n) => [n]))('checkpoints/%s.json decodes, says how it was meta-trained, and has its curve next to it', (name) => {
    const path = join('checkpoints', `${name}.json`);
    const ck = loadLstmCheckpoint(path);
    if (E.isLeft(ck)) throw ck.left;
    expect(ck.right.architecture).toEqual(DEFAULT_ARCHITECTURE);
    const training = ck.right.meta['metaTraining'];
    expect(typeof training === 'object' && training !== null && 'settings' in training).toBe(true);
    const settings = MetaTrainSettingsCodec.decode((training as { settings: unknown }).settings);
    expect(E.isRight(settings) && settings.right.task).toBe(name);
    expect(ck.right.meta['resume']).toBeUndefined(); // a shipped file carries no meta-optimizer state
    expect(existsSync(join('checkpoints', `${name}.svg`))).toBe(true);
    disposeCheckpoint(ck.right);
  });

  it('checkpoints/feature-mlp.json is the learned optimizer used when none is named', () => {
    expect(defaultCheckpointPath()).toMatch(/checkpoints[\\/]feature-mlp\.json$/);
    const named = buildLearned({ type: 'l2o', checkpoint: join('checkpoints', 'feature-mlp.json') });
    const unnamed = buildLearned(undefined);
    if (E.isLeft(named)) throw named.left;
    if (E.isLeft(unnamed)) throw unnamed.left;
    // the same update from the same gradient
    const rng = Rng.seeded(2);
    const x = tf.tensor1d(Float32Array.from({ length: 50 }, () => rng.normal()));
    const g = tf.tensor1d(Float32Array.from({ length: 50 }, () => 0.01 * rng.normal()));
    const [a] = named.right.step(x, g, named.right.init(x));
    const [b] = unnamed.right.step(x, g, unnamed.right.init(x));
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(x.dataSync()));
    disposeAll([x, g, a, b]);
  });

  it('lgl2o run --optimizer l2o (no checkpoint named) trains mlp-mnist with it', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lgl2o-ck-')), 'run');
    const { code, stderr } = await cliInProcess(['--quiet', 'run', '--task', 'mlp-mnist', '--optimizer', 'l2o', '--steps', '30', '--out', out]);
    expect(code, stderr).toBe(0);
    const lines = readFileSync(join(out, 'events.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number; loss: number });
    const first = lines[0]!;
    const last = lines[lines.length - 1]!;
    expect(last.step).toBe(30);
    expect(last.loss).toBeLessThan(first.loss - 0.5); // the meta-trained optimizer descends fast on its own task
  });
});
