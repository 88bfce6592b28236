import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { main } from '../cli/main.js';
import { l2o } from '../index.js';
import { buildLearned } from '../src/config/build.js';
import { FEATURE_MLP_ARCHITECTURE, FEATURE_MLP_WEIGHT_NAMES, adamLikeWeights } from '../src/l2o/featureMlp.js';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { featureMlp } from '../src/l2o/featureMlpOptimizer.js';
import { learnedOptimizer } from '../src/l2o/learned.js';
import { DEFAULT_L2O, SHIPPED_L2O, checkpointFileOf, defaultCheckpointPath } from '../src/l2o/shipped.js';
import { decodeCheckpoint, disposeCheckpoint, isFeatureMlpCheckpoint, loadLstmCheckpoint, resolveCheckpoint } from '../src/l2o/weightsFile.js';
import type { AnyOptimizer } from '../src/optim/optimizer.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const dir = mkdtempSync(join(tmpdir(), 'lgl2o-names-'));
const weights = adamLikeWeights(FEATURE_MLP_ARCHITECTURE, Rng.seeded(3), 0.02);
const encoded = encodeFeatureMlpCheckpoint(FEATURE_MLP_ARCHITECTURE, weights, { note: 'test' }) as Record<string, unknown>;

/** The points after one step of each optimizer from the same point and gradient. */
function oneStep(...opts: AnyOptimizer[]): number[][] {
  const rng = Rng.seeded(5);
  const x = tf.tensor1d(Float32Array.from({ length: 30 }, () => rng.normal()));
  const g = tf.tensor1d(Float32Array.from({ length: 30 }, () => rng.normal()));
  return opts.map((opt) => {
    const state = opt.init(x);
    const [next, nextState] = opt.step(x, g, state);
    const out = Array.from(next.dataSync());
    disposeAll([state, next, nextState]);
    return out;
  });
}

const problem = (json: unknown): string => {
  const r = decodeCheckpoint(json, 'ck.json');
  if (E.isRight(r)) throw new Error('expected a decode error');
  expect(r.left.message).not.toContain('\n');
  return r.left.message;
};

describe('one checkpoint type for both learned optimizers', () => {
  it('decodes a feature-MLP file exactly (told apart by architecture.kind) and builds the feature-MLP from it', () => {
    const ck = decodeCheckpoint(JSON.parse(JSON.stringify(encoded)), 'ck.json');
    if (E.isLeft(ck)) throw ck.left;
    expect(isFeatureMlpCheckpoint(ck.right)).toBe(true);
    expect(ck.right.architecture).toEqual(FEATURE_MLP_ARCHITECTURE);
    expect(ck.right.meta).toEqual({ note: 'test' });
    if (!isFeatureMlpCheckpoint(ck.right)) return;
    for (const name of FEATURE_MLP_WEIGHT_NAMES) expect(Array.from(ck.right.weights[name])).toEqual(Array.from(weights[name]));
    const built = learnedOptimizer(ck.right);
    expect(built.name).toBe('feature-mlp');
    const [a, b] = oneStep(built, featureMlp(weights, FEATURE_MLP_ARCHITECTURE));
    expect(a).toEqual(b);
  });

  it('names the field of a bad feature-MLP file in one line: kind, missing weight, shape, non-finite value', () => {
    const arch = encoded['architecture'] as Record<string, unknown>;
    const ws = encoded['weights'] as Record<string, { shape: number[]; data: number[] }>;
    expect(problem({ ...encoded, architecture: { ...arch, kind: 'gru' } })).toBe('ck.json: architecture.kind: expected "feature-mlp", got "gru"');
    const { wd: _dropped, ...withoutWd } = ws;
    expect(problem({ ...encoded, weights: withoutWd })).toBe('ck.json: weights.wd: missing (expected shape [16])');
    expect(problem({ ...encoded, weights: { ...ws, w1: { shape: [16, 5], data: ws['w1']!.data } } })).toBe(
      'ck.json: weights.w1: expected shape [5,16], got [16,5]',
    );
    const data = [...ws['bs']!.data];
    data[0] = 1e39;
    expect(problem({ ...encoded, weights: { ...ws, bs: { shape: [1], data } } })).toMatch(/^ck\.json: weights\.bs\.data\[0\]: 1e\+39 is not finite as float32/);
    expect(problem({ ...encoded, architecture: { ...arch, hidden: 0 } })).toMatch(/^ck\.json: architecture\.hidden: /);
  });

  it('refuses a feature-MLP file where only the LSTM will do (meta-train --init), naming the kind', () => {
    const path = join(dir, 'fmlp.json');
    writeFileSync(path, JSON.stringify(encoded));
    const r = loadLstmCheckpoint(path);
    expect(E.isLeft(r) && r.left.message).toMatch(/fmlp\.json: architecture\.kind: a feature-mlp checkpoint, expected the LSTM's/);
  });
});

describe('shipped learned optimizers by name', () => {
  it('maps lstm to checkpoints/mlp-mnist.json, feature-mlp(-guard) to checkpoints/feature-mlp(-guard).json, default to DEFAULT_L2O', () => {
    expect(SHIPPED_L2O).toEqual({ lstm: 'mlp-mnist.json', 'feature-mlp': 'feature-mlp.json', 'feature-mlp-guard': 'feature-mlp-guard.json' });
    const file = (s: string) => {
      const r = checkpointFileOf(s);
      if (E.isLeft(r)) throw r.left;
      return r.right;
    };
    expect(file('lstm')).toMatch(/checkpoints[\\/]mlp-mnist\.json$/);
    expect(file('feature-mlp')).toMatch(/checkpoints[\\/]feature-mlp\.json$/);
    expect(file('feature-mlp-guard')).toMatch(/checkpoints[\\/]feature-mlp-guard\.json$/);
    expect(file('default')).toBe(file(DEFAULT_L2O));
    expect(defaultCheckpointPath()).toBe(file(DEFAULT_L2O));
    expect(file('random:4')).toBeUndefined();
    expect(file('some/dir/ck.json')).toBe('some/dir/ck.json');
  });

  it('loads each shipped name as the architecture of its file, by resolveCheckpoint, buildLearned and l2o.load', () => {
    const lstm = resolveCheckpoint('lstm');
    const fmlp = resolveCheckpoint('feature-mlp');
    if (E.isLeft(lstm)) throw lstm.left;
    if (E.isLeft(fmlp)) throw fmlp.left;
    expect(isFeatureMlpCheckpoint(lstm.right)).toBe(false);
    expect(isFeatureMlpCheckpoint(fmlp.right)).toBe(true);
    expect(fmlp.right.architecture).toEqual(JSON.parse(readFileSync(join('checkpoints', 'feature-mlp.json'), 'utf8')).architecture);
    const viaConfig = buildLearned({ type: 'l2o', checkpoint: 'feature-mlp' });
    if (E.isLeft(viaConfig)) throw viaConfig.left;
    const byPath = buildLearned({ type: 'l2o', checkpoint: join('checkpoints', 'feature-mlp.json') });
    if (E.isLeft(byPath)) throw byPath.left;
    const [a, b, c] = oneStep(viaConfig.right, byPath.right, l2o.load('feature-mlp'));
    expect(a).toEqual(b);
    expect(a).toEqual(c);
    const [d, e] = oneStep(l2o.load('lstm'), l2o.load('default'));
    expect(e).toEqual(a); // default is feature-mlp, the winner of issue 15's table
    expect(d).not.toEqual(a);
    disposeCheckpoint(lstm.right);
  });

  it('answers an unknown name with one line listing the shipped names', () => {
    const expected =
      'feature_mlp: no such learned optimizer (shipped: lstm, feature-mlp, feature-mlp-guard, default (= feature-mlp); or a checkpoint path, or random:SEED)';
    expect(() => l2o.load('feature_mlp')).toThrow(expected);
    const built = buildLearned({ type: 'l2o', checkpoint: 'feature_mlp' });
    expect(E.isLeft(built) && built.left.message).toBe(expected);
  });
});

describe('--l2o NAME on the command line', () => {
  const out = { stdout: '', stderr: '' };
  const capture = () => {
    out.stdout = '';
    out.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out.stdout += String(s)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((out.stderr += String(s)), true));
  };
  afterEach(() => vi.restoreAllMocks());

  it('runs with --l2o feature-mlp, and refuses an unknown name in one line', async () => {
    capture();
    const ok = await main([
      '--quiet',
      '--json',
      'run',
      '--task',
      'quadratic',
      '--optimizer',
      'lgl2o',
      '--l2o',
      'feature-mlp',
      '--steps',
      '20',
      '--out',
      join(dir, 'run'),
    ]);
    expect([ok, out.stderr]).toEqual([0, '']);
    capture();
    const bad = await main(['--quiet', 'run', '--task', 'quadratic', '--optimizer', 'l2o', '--l2o', 'featuremlp', '--steps', '5', '--out', join(dir, 'bad')]);
    expect(bad).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain('featuremlp: no such learned optimizer (shipped: lstm, feature-mlp, feature-mlp-guard, default (= feature-mlp)');
  });

  it('meta-train --init of a feature-MLP file: a one-line error naming the kind', async () => {
    const path = join(dir, 'init.json');
    writeFileSync(path, JSON.stringify(encoded));
    capture();
    const code = await main(['--quiet', 'meta-train', '--task', 'quadratic', '--meta-steps', '1', '--init', path, '--out', join(dir, 'meta')]);
    expect(code).toBe(2);
    expect(out.stderr.trim().split('\n')).toHaveLength(1);
    expect(out.stderr).toContain('architecture.kind: a feature-mlp checkpoint');
  });
});
