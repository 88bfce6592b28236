import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { l2oOptimizer } from '../index.js';
import {
  FEATURE_MLP_ARCHITECTURE,
  FEATURE_MLP_WEIGHT_NAMES,
  advanceFeatures,
  featureCount,
  featureMlpBackward,
  featureMlpUpdate,
  featureStride,
  zeroFeatureMlpState,
  zeroFeatureMlpWeights,
  type FeatureMlpArchitecture,
  type FeatureMlpWeights,
} from '../src/l2o/featureMlp.js';
import { featureMlpUpdateTensor } from '../src/l2o/featureMlpTensor.js';
import { featureMlp } from '../src/l2o/featureMlpOptimizer.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/l2o/weightsCodec.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll, disposeReplaced } from '../src/tensor/state.js';

const ENERGY: FeatureMlpArchitecture = { ...FEATURE_MLP_ARCHITECTURE, energyDecay: 0.9 };

function randomWeights(arch: FeatureMlpArchitecture, seed: number, scale = 0.4): FeatureMlpWeights {
  const rng = Rng.seeded(seed);
  const w = zeroFeatureMlpWeights(arch);
  for (const name of FEATURE_MLP_WEIGHT_NAMES) for (let i = 0; i < w[name].length; i++) w[name][i] = rng.between(-scale, scale);
  return w;
}

/** Gradients whose size changes over time per coordinate: growing for some, shrinking for others. */
const gradients = (P: number, steps: number, seed: number): Float32Array[] => {
  const rng = Rng.seeded(seed);
  return Array.from({ length: steps }, (_, t) => Float32Array.from({ length: P }, (_, i) => rng.normal() * Math.exp(((i % 3) - 1) * 0.1 * t)));
};

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('feature-MLP energy trend (docs/algorithms.md §2b)', () => {
  it('writes ρ = tanh(½ ln((v̂_f + ε²)/(v̂ + ε²))) after the odd features, as computed by hand', () => {
    const P = 4;
    const steps = gradients(P, 30, 1);
    const state = zeroFeatureMlpState(ENERGY, P);
    const features = new Float32Array(P * featureStride(ENERGY));
    const F = featureCount(ENERGY);
    const v = new Float64Array(P);
    const f = new Float64Array(P);
    steps.forEach((g, t) => {
      advanceFeatures(ENERGY, g, state, features);
      const n = t + 1;
      for (let i = 0; i < P; i++) {
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        f[i] = 0.9 * f[i]! + 0.1 * g[i]! ** 2;
        const vHat = v[i]! / (1 - 0.999 ** n);
        const fHat = f[i]! / (1 - 0.9 ** n);
        const rho = Math.tanh(0.5 * Math.log((fHat + 1e-16) / (vHat + 1e-16)));
        expect(features[i * (F + 1) + F]).toBeCloseTo(rho, 5);
        expect(features[i * (F + 1)]).toBeCloseTo(g[i]! / (Math.sqrt(vHat) + 1e-8), 4);
      }
    });
    // growing gradients (i % 3 = 2) have ρ > 0, shrinking ones (i % 3 = 0) ρ < 0
    expect(features[2 * (F + 1) + F]).toBeGreaterThan(0.3);
    expect(features[0 * (F + 1) + F]).toBeLessThan(-0.3);
  });

  it('scales the log step by u_e · ρ: the update against the closed form with the MLP off', () => {
    const P = 6;
    const arch = ENERGY;
    const w = zeroFeatureMlpWeights(arch);
    w.c.set([0.2, 0.1, 0.9, -0.1, 0.05]);
    w.bs[0] = 1.5;
    w.us.set([0.3, -0.2, 0.1, 0.4]);
    w.ue[0] = -1.3;
    const state = zeroFeatureMlpState(arch, P);
    const features = new Float32Array(P * featureStride(arch));
    let time: Float64Array = new Float64Array(0);
    for (const g of gradients(P, 5, 2)) time = advanceFeatures(arch, g, state, features);
    const update = new Float32Array(P);
    featureMlpUpdate(arch, w, features, time, update);
    const F = featureCount(arch);
    const S = arch.logStepBound;
    for (let i = 0; i < P; i++) {
      const row = i * (F + 1);
      const d = Array.from(w.c).reduce((a, c, k) => a + c * features[row + k]!, 0);
      const s = w.bs[0]! + Array.from(w.us).reduce((a, u, j) => a + u * time[j]!, 0) + w.ue[0]! * features[row + F]!;
      expect(update[i]).toBeCloseTo(-arch.alpha * Math.exp(S * Math.tanh(s / S)) * d, 7);
    }
  });

  it('with u_e = 0 steps exactly as the same weights without the trend, through the Optimizer', () => {
    const base = randomWeights(FEATURE_MLP_ARCHITECTURE, 3);
    const withTrend = zeroFeatureMlpWeights(ENERGY);
    for (const name of FEATURE_MLP_WEIGHT_NAMES) if (name !== 'ue') withTrend[name].set(base[name]);
    const run = (opt: ReturnType<typeof featureMlp>) => {
      let x = tf.tensor1d(new Float32Array(10));
      let state = opt.init(x);
      for (const g of gradients(10, 15, 4)) {
        const gt = tf.tensor1d(g);
        const [next, nextState] = opt.step(x, gt, state);
        disposeReplaced([x, state, gt], [next, nextState]);
        [x, state] = [next, nextState];
      }
      const out = Float32Array.from(x.dataSync());
      disposeAll([x, state]);
      return out;
    };
    const [a, b] = [run(featureMlp(base, FEATURE_MLP_ARCHITECTURE)), run(featureMlp(withTrend, ENERGY))];
    expect(maxAbsDiff(a, b)).toBe(0);
    withTrend.ue[0] = 1;
    expect(maxAbsDiff(a, run(featureMlp(withTrend, ENERGY)))).toBeGreaterThan(1e-4);
  });

  it('featureMlpBackward gives u_e the central finite difference; the tensor rule agrees with the loop', () => {
    const arch = { ...ENERGY, alpha: 1 };
    const P = 7;
    const w = randomWeights(arch, 5, 0.3);
    w.ue[0] = 0.8;
    const state = zeroFeatureMlpState(arch, P);
    state.clock = 40;
    const features = new Float32Array(P * featureStride(arch));
    let time: Float64Array = new Float64Array(0);
    for (const g of gradients(P, 30, 6)) time = advanceFeatures(arch, g, state, features);
    const adjoint = Float32Array.from({ length: P }, (_, i) => Math.cos(i + 1));
    const objective = (ue: number) => {
      const u = new Float64Array(P) as unknown as Float32Array;
      featureMlpUpdate(arch, { ...w, ue: Float32Array.of(ue) }, features, time, u);
      return u.reduce((s, v, i) => s + adjoint[i]! * v, 0);
    };
    const grad = zeroFeatureMlpWeights(arch);
    featureMlpBackward(arch, w, features, time, adjoint, grad);
    const h = 1e-3;
    const fd = (objective(w.ue[0]! + h) - objective(w.ue[0]! - h)) / (2 * h);
    expect(Math.abs(fd)).toBeGreaterThan(0.05);
    expect(grad.ue[0]).toBeCloseTo(fd, 4);

    const loop = new Float32Array(P);
    const tensor = new Float32Array(P);
    featureMlpUpdate(arch, w, features, time, loop);
    featureMlpUpdateTensor(arch, w, features, time, tensor);
    expect(maxAbsDiff(loop, tensor)).toBeLessThan(1e-5 * Math.max(...loop.map(Math.abs)));
  });

  it('a timed weight u_e(n) = ue_0 + Σ_j ue_j tanh(n/T_j): closed form, zero time weights as untimed, backward and tensor rule', () => {
    const timed: FeatureMlpArchitecture = { ...ENERGY, energyTimed: true, alpha: 1 };
    const P = 6;
    const w = randomWeights(timed, 11, 0.3);
    expect(w.ue.length).toBe(1 + timed.timescales.length);
    const state = zeroFeatureMlpState(timed, P);
    state.clock = 700;
    const features = new Float32Array(P * featureStride(timed));
    let time: Float64Array = new Float64Array(0);
    for (const g of gradients(P, 20, 12)) time = advanceFeatures(timed, g, state, features);
    const n = 720;
    const weight = w.ue[0]! + timed.timescales.reduce((a, T, j) => a + w.ue[1 + j]! * Math.tanh(n / T), 0);
    // the same step with the untimed architecture and the constant weight u_e(720)
    const untimed = { ...timed, energyTimed: false };
    const [a, b] = [new Float32Array(P), new Float32Array(P)];
    featureMlpUpdate(timed, w, features, time, a);
    featureMlpUpdate(untimed, { ...w, ue: Float32Array.of(weight) }, features, time, b);
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6 * Math.max(...b.map(Math.abs)));
    const zeroTime = { ...w, ue: Float32Array.of(w.ue[0]!, 0, 0, 0, 0) };
    featureMlpUpdate(timed, zeroTime, features, time, a);
    featureMlpUpdate(untimed, { ...w, ue: Float32Array.of(w.ue[0]!) }, features, time, b);
    expect(maxAbsDiff(a, b)).toBe(0);

    const adjoint = Float32Array.from({ length: P }, (_, i) => Math.sin(i + 2));
    const objective = (ue: Float32Array) => {
      const u = new Float64Array(P) as unknown as Float32Array;
      featureMlpUpdate(timed, { ...w, ue }, features, time, u);
      return u.reduce((sum, v, i) => sum + adjoint[i]! * v, 0);
    };
    const grad = zeroFeatureMlpWeights(timed);
    featureMlpBackward(timed, w, features, time, adjoint, grad);
    const h = 1e-3;
    for (let j = 0; j < w.ue.length; j++) {
      const [up, down] = [Float32Array.from(w.ue), Float32Array.from(w.ue)];
      up[j]! += h;
      down[j]! -= h;
      const fd = (objective(up) - objective(down)) / (2 * h);
      expect(Math.abs(fd)).toBeGreaterThan(0.01);
      expect(grad.ue[j]).toBeCloseTo(fd, 4);
    }
    const [loop, tensor] = [new Float32Array(P), new Float32Array(P)];
    featureMlpUpdate(timed, w, features, time, loop);
    featureMlpUpdateTensor(timed, w, features, time, tensor);
    expect(maxAbsDiff(loop, tensor)).toBeLessThan(1e-5 * Math.max(...loop.map(Math.abs)));
  });

  it('checkpoints: a file without the trend has no u_e; with it, u_e round-trips and its absence is named', () => {
    const plainFile = encodeCheckpoint({ architecture: FEATURE_MLP_ARCHITECTURE, weights: randomWeights(FEATURE_MLP_ARCHITECTURE, 7), meta: {} }) as {
      weights: Record<string, unknown>;
    };
    expect(Object.keys(plainFile.weights)).not.toContain('ue');
    expect(E.isRight(decodeCheckpoint(plainFile, 'plain.json'))).toBe(true);

    const weights = randomWeights(ENERGY, 8);
    const json = JSON.parse(JSON.stringify(encodeCheckpoint({ architecture: ENERGY, weights, meta: {} }))) as { weights: Record<string, unknown> };
    const back = decodeCheckpoint(json, 'energy.json');
    if (E.isLeft(back)) throw back.left;
    expect((back.right.architecture as FeatureMlpArchitecture).energyDecay).toBe(0.9);
    expect(Array.from((back.right.weights as FeatureMlpWeights).ue)).toEqual(Array.from(weights.ue));

    delete json.weights.ue;
    const missing = decodeCheckpoint(json, 'energy.json');
    expect(E.isLeft(missing) && missing.left.message).toMatch(/energy\.json.*weights\.ue: missing \(expected shape \[1\]\)/);
    const badDecay = decodeCheckpoint({ ...json, architecture: { ...ENERGY, energyDecay: 1.5 } }, 'energy.json');
    expect(E.isLeft(badDecay) && badDecay.left.message).toMatch(/energyDecay/);

    const timed = { ...ENERGY, energyTimed: true };
    const timedJson = JSON.parse(JSON.stringify(encodeCheckpoint({ architecture: timed, weights: randomWeights(timed, 13), meta: {} }))) as {
      weights: Record<string, { shape: number[] }>;
    };
    expect(timedJson.weights.ue!.shape).toEqual([5]);
    expect(E.isRight(decodeCheckpoint(timedJson, 'timed.json'))).toBe(true);
    const oneWeight = decodeCheckpoint({ ...timedJson, weights: { ...timedJson.weights, ue: { shape: [1], data: [0.5] } } }, 'timed.json');
    expect(E.isLeft(oneWeight) && oneWeight.left.message).toMatch(/weights\.ue: expected shape \[5\], got \[1\]/);
    const { energyDecay: _, ...noTrend } = timed;
    const orphan = decodeCheckpoint({ ...plainFile, architecture: { ...noTrend } }, 'orphan.json');
    expect(E.isLeft(orphan) && orphan.left.message).toMatch(/architecture\.energyTimed: needs energyDecay/);
  });

  it('model.fit: the fast moment is part of the saved optimizer state and continues after a load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lgl2o-energy-'));
    const file = join(dir, 'energy.json');
    writeFileSync(file, JSON.stringify(encodeCheckpoint({ architecture: ENERGY, weights: randomWeights(ENERGY, 9, 0.2), meta: {} })));
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })] });
    const optimizer = l2oOptimizer(file);
    model.compile({ optimizer, loss: 'meanSquaredError' });
    const rng = Rng.seeded(10);
    const x = tf.tensor2d(
      Float32Array.from({ length: 24 }, () => rng.normal()),
      [8, 3],
    );
    const y = tf.tensor2d(
      Float32Array.from({ length: 16 }, () => rng.normal()),
      [8, 2],
    );
    await model.fit(x, y, { batchSize: 4, epochs: 2, shuffle: false, verbose: 0 });
    const saved = await optimizer.getWeights();
    const fast = saved.filter((s) => s.name.endsWith('/l2o_state/vFast'));
    expect(fast.map((s) => s.tensor.shape)).toEqual([[6], [2]]);
    expect(Math.max(...fast[0]!.tensor.dataSync())).toBeGreaterThan(0);

    const copy = l2oOptimizer(file);
    await copy.setWeights(saved.map((s) => ({ name: s.name, tensor: s.tensor.clone() })));
    const twin = tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] })] });
    twin.setWeights(model.getWeights());
    twin.compile({ optimizer: copy, loss: 'meanSquaredError' });
    await model.fit(x, y, { batchSize: 4, epochs: 1, shuffle: false, verbose: 0 });
    await twin.fit(x, y, { batchSize: 4, epochs: 1, shuffle: false, verbose: 0 });
    const [a, b] = [model.getWeights()[0]!.dataSync(), twin.getWeights()[0]!.dataSync()];
    expect(maxAbsDiff(a, b)).toBeLessThan(1e-6);
    tf.dispose([x, y, ...saved.filter((s) => s.tensor.rank === 0).map((s) => s.tensor)]);
    for (const m of [model, twin]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });
});
