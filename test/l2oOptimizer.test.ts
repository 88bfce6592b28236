import * as tf from '@tensorflow/tfjs';
import { from, lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { L2OOptimizer, l2o, l2oOptimizer, plain, readParams, Rng, train } from '../index.js';
import type { Batch } from '../src/data/batch.js';

const FEATURES = 3;

/** A small regression MLP with seeded initial weights: the same model every call. */
function regressor(): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [FEATURES], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
}

/** y = sin(x1) + x2 x3 + noise, as plain arrays. */
function data(count: number, seed: number): { x: Float32Array; y: Float32Array } {
  const rng = Rng.seeded(seed);
  const x = Float32Array.from({ length: count * FEATURES }, () => rng.normal());
  const y = Float32Array.from({ length: count }, (_, i) => Math.sin(x[3 * i]!) + x[3 * i + 1]! * x[3 * i + 2]! + 0.1 * rng.normal());
  return { x, y };
}

const BATCH = 8;
const COUNT = 64;
const { x: xs, y: ys } = data(COUNT, 5);
const xTensor = () => tf.tensor2d(xs, [COUNT, FEATURES]);
const yTensor = () => tf.tensor2d(ys, [COUNT, 1]);
const batchesInOrder = (): Batch[] =>
  Array.from({ length: COUNT / BATCH }, (_, b) => ({
    x: xs.slice(b * BATCH * FEATURES, (b + 1) * BATCH * FEATURES),
    y: ys.slice(b * BATCH, (b + 1) * BATCH),
    shape: [FEATURES],
    size: BATCH,
  }));

const flat = (model: tf.LayersModel): Float32Array => {
  const p = readParams(model);
  const out = Float32Array.from(p.dataSync());
  p.dispose();
  return out;
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

async function fitWith(model: tf.LayersModel, optimizer: tf.Optimizer, epochs: number): Promise<void> {
  model.compile({ optimizer, loss: 'meanSquaredError' });
  const [x, y] = [xTensor(), yTensor()];
  await model.fit(x, y, { batchSize: BATCH, epochs, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);
}

async function saveToMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  // As a file would hold it: the JSON parts through JSON, the weights as bytes.
  return { ...saved!, modelTopology: JSON.parse(JSON.stringify(saved!.modelTopology)), trainingConfig: JSON.parse(JSON.stringify(saved!.trainingConfig)) };
}

describe('l2oOptimizer: the learned optimizer as a tf.Optimizer', () => {
  it('trains in model.fit exactly as the train operator does, weight for weight', async () => {
    const viaFit = regressor();
    const before = flat(viaFit);
    await fitWith(viaFit, l2oOptimizer('default'), 2);

    const viaTrain = regressor();
    expect(maxDiff(flat(viaTrain), before)).toBe(0);
    viaTrain.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const twoEpochs = from([...batchesInOrder(), ...batchesInOrder()]);
    await lastValueFrom(twoEpochs.pipe(train({ optimizee: viaTrain, optimizer: plain(l2o.load('default')), steps: 16 })));

    const [a, b] = [flat(viaFit), flat(viaTrain)];
    expect(maxDiff(a, before)).toBeGreaterThan(1e-2); // it did train
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    viaFit.dispose();
    viaTrain.dispose();
  });

  it('keeps one LSTM state per weight and tf.memory flat over many fit batches', async () => {
    const model = regressor();
    const optimizer = l2oOptimizer('random:3');
    await fitWith(model, optimizer, 1);
    const weights = await optimizer.getWeights();
    // the iteration count, then h and c of 2 layers for each of kernel, bias, kernel, bias
    expect(weights.length).toBe(1 + 4 * 2 * 2);
    const rows = weights.slice(1).map((w) => w.tensor.shape);
    expect(rows).toContainEqual([FEATURES * 8, 20]);
    expect(rows).toContainEqual([8, 20]);
    expect(rows).toContainEqual([1, 20]);
    expect(optimizer.iterations).toBe(COUNT / BATCH);

    const tensors = tf.memory().numTensors;
    await fitWith(model, optimizer, 5);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(optimizer.iterations).toBe((6 * COUNT) / BATCH);
    tf.dispose(weights.slice(0, 1).map((w) => w.tensor)); // the iteration scalar is a fresh copy
    optimizer.dispose();
    model.dispose();
  });

  it('saves and loads with the model (includeOptimizer): the config embeds the weights, the LSTM state continues', async () => {
    const original = regressor();
    await fitWith(original, l2oOptimizer('random:4'), 1);
    const artifacts = await saveToMemory(original);
    const optimizerConfig = (artifacts.trainingConfig as unknown as { optimizer_config: { class_name: string } }).optimizer_config;
    expect(optimizerConfig.class_name).toBe('L2OOptimizer');

    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(loaded.optimizer).toBeInstanceOf(L2OOptimizer);
    expect(maxDiff(flat(loaded), flat(original))).toBe(0);

    // One more epoch each: the loaded optimizer continues from the saved LSTM state...
    const x = xTensor();
    const y = yTensor();
    await original.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    expect(maxDiff(flat(loaded), flat(original))).toBeLessThan(1e-6);

    // ...which matters: the same optimizer from a zero state goes elsewhere.
    const restarted = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, weightSpecs: artifacts.weightSpecs!.filter((s) => s.group !== 'optimizer') }));
    await restarted.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    expect(maxDiff(flat(restarted), flat(original))).toBeGreaterThan(1e-4);
    tf.dispose([x, y]);
    for (const m of [original, loaded, restarted]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  it('names what is wrong: an unreadable checkpoint, a config without weights', () => {
    expect(() => l2oOptimizer('no-such-checkpoint.json')).toThrow(/no-such-checkpoint\.json.*cannot read/);
    expect(() => L2OOptimizer.fromConfig(L2OOptimizer, { name: 'x' })).toThrow(/L2OOptimizer config.*checkpoint/);
    const good = l2oOptimizer('random:1').getConfig();
    const broken = { ...good, checkpoint: { ...(good['checkpoint'] as object), architecture: { hidden: 0, layers: 2, preprocP: 10, outScale: 0.1 } } };
    expect(() => L2OOptimizer.fromConfig(L2OOptimizer, broken)).toThrow(/config\.checkpoint.*hidden/);
  });
});

describe('l2oOptimizer: the feature-MLP as a tf.Optimizer', () => {
  it('trains in model.fit exactly as the train operator does, weight for weight', async () => {
    const viaFit = regressor();
    const before = flat(viaFit);
    await fitWith(viaFit, l2oOptimizer('feature-mlp'), 2);

    const viaTrain = regressor();
    viaTrain.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
    const twoEpochs = from([...batchesInOrder(), ...batchesInOrder()]);
    await lastValueFrom(twoEpochs.pipe(train({ optimizee: viaTrain, optimizer: plain(l2o.load('feature-mlp')), steps: 16 })));

    const [a, b] = [flat(viaFit), flat(viaTrain)];
    expect(maxDiff(a, before)).toBeGreaterThan(1e-2); // it did train
    expect(maxDiff(a, b)).toBeLessThan(1e-5);
    viaFit.dispose();
    viaTrain.dispose();
  });

  it('keeps moments, count and clock per weight and tf.memory flat over many fit batches', async () => {
    const model = regressor();
    const optimizer = l2oOptimizer('feature-mlp');
    await fitWith(model, optimizer, 1);
    const weights = await optimizer.getWeights();
    // the iteration count, then m, v, vFast (the shipped file reads the energy trend), count and
    // clock for each of kernel, bias, kernel, bias
    expect(weights.length).toBe(1 + 5 * 4);
    const byName = new Map(weights.map((w) => [w.name.replace(/^.*\/l2o_state\//, ''), w.tensor]));
    expect(weights.slice(1).map((w) => w.tensor.shape)).toContainEqual([4, FEATURES * 8]);
    expect(byName.get('vFast')!.shape).toEqual(byName.get('v')!.shape);
    expect(byName.get('clock')!.dataSync()[0]).toBe(COUNT / BATCH);
    expect(byName.get('count')!.dataSync()[0]).toBe(COUNT / BATCH);

    const tensors = tf.memory().numTensors;
    await fitWith(model, optimizer, 5);
    expect(tf.memory().numTensors).toBe(tensors);
    // the iteration, count and clock scalars are fresh copies
    tf.dispose(weights.filter((w) => w.tensor.rank === 0).map((w) => w.tensor));
    optimizer.dispose();
    model.dispose();
  });

  it('saves and loads with the model (includeOptimizer): the state continues, clock included', async () => {
    const original = regressor();
    await fitWith(original, l2oOptimizer('feature-mlp'), 1);
    const artifacts = await saveToMemory(original);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(loaded.optimizer).toBeInstanceOf(L2OOptimizer);
    expect(maxDiff(flat(loaded), flat(original))).toBe(0);

    const x = xTensor();
    const y = yTensor();
    await original.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    expect(maxDiff(flat(loaded), flat(original))).toBeLessThan(1e-6);
    const clocks = async (m: tf.LayersModel) => {
      const ws = await m.optimizer.getWeights();
      const out = ws.filter((w) => w.name.endsWith('/l2o_state/clock')).map((w) => w.tensor.dataSync()[0]);
      tf.dispose(ws.filter((w) => w.tensor.rank === 0).map((w) => w.tensor));
      return out;
    };
    expect(await clocks(loaded)).toEqual([16, 16, 16, 16]);
    expect(await clocks(loaded)).toEqual(await clocks(original));

    const restarted = await tf.loadLayersModel(tf.io.fromMemory({ ...artifacts, weightSpecs: artifacts.weightSpecs!.filter((s) => s.group !== 'optimizer') }));
    await restarted.fit(x, y, { batchSize: BATCH, epochs: 1, shuffle: false, verbose: 0 });
    expect(maxDiff(flat(restarted), flat(original))).toBeGreaterThan(1e-4);
    tf.dispose([x, y]);
    for (const m of [original, loaded, restarted]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });
});
