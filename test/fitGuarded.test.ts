import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { fitDatasetGuarded, fitGuarded, l2o, lossGuard, readParams, Rng, sgd } from '../index.js';
import { scripted } from './helpers.js';

const CLASSES = 3;

/** A small softmax classifier with seeded initial weights: the same model every call. */
function classifier(metrics: string[] = ['accuracy']): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [2], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer: 'sgd', loss: 'categoricalCrossentropy', metrics });
  return model;
}

/** Three Gaussian blobs around the vertices of a triangle; one-hot targets. */
function blobs(count: number, seed: number): { x: number[][]; y: number[][] } {
  const rng = Rng.seeded(seed);
  const centres = [
    [0, 1.5],
    [-1.3, -0.75],
    [1.3, -0.75],
  ];
  const labels = Array.from({ length: count }, (_, i) => i % CLASSES);
  return {
    x: labels.map((c) => centres[c]!.map((m) => m + 0.7 * rng.normal())),
    y: labels.map((c) => Array.from({ length: CLASSES }, (_, j) => (j === c ? 1 : 0))),
  };
}

const flat = (model: tf.LayersModel): Float32Array => {
  const p = readParams(model);
  const out = Float32Array.from(p.dataSync());
  p.dispose();
  return out;
};
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const sortedKeys = (o: object) => Object.keys(o).sort();

/** Batch logs as the callbacks saw them, numbers only. */
function recorder() {
  const batches: Array<Record<string, number>> = [];
  const epochs: number[] = [];
  return {
    batches,
    epochs,
    callbacks: {
      onBatchEnd: async (_batch: number, logs?: tf.Logs) => void batches.push({ ...(logs as Record<string, number>) }),
      onEpochEnd: async (epoch: number) => void epochs.push(epoch),
    },
  };
}

describe('fitGuarded: lgl2o optimizers in the shape of model.fit', () => {
  const { x: xs, y: ys } = blobs(100, 3);

  it('with plain SGD equals tfjs model.fit with tf.train.sgd: weights, history, callback logs (validationSplit, a partial last batch)', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const args = { batchSize: 16, epochs: 3, shuffle: false, validationSplit: 0.2, verbose: 0 } as const;

    const reference = classifier();
    reference.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const seenByFit = recorder();
    const fitHistory = await reference.fit(x, y, { ...args, callbacks: seenByFit.callbacks });

    const model = classifier();
    const seen = recorder();
    const history = await fitGuarded(model, x, y, { ...args, optimizer: sgd({ lr: 0.3 }), callbacks: seen.callbacks });

    expect(maxDiff(flat(model), flat(reference))).toBeLessThan(1e-5);
    expect(sortedKeys(history.history)).toEqual(sortedKeys(fitHistory.history));
    expect(sortedKeys(history.history)).toEqual(['acc', 'loss', 'val_acc', 'val_loss']);
    for (const key of Object.keys(fitHistory.history)) {
      const ours = history.history[key] as number[];
      (fitHistory.history[key] as number[]).forEach((v, e) => expect(ours[e]).toBeCloseTo(v, 5));
    }
    expect(history.epoch).toEqual([0, 1, 2]);
    expect(seen.epochs).toEqual(seenByFit.epochs);
    expect(seen.batches.length).toBe(seenByFit.batches.length); // 80 examples in batches of 16: 5 per epoch
    seen.batches.forEach((logs, i) => {
      const theirs = seenByFit.batches[i]!;
      expect(sortedKeys(logs)).toEqual(sortedKeys(theirs));
      expect(logs['batch']).toBe(theirs['batch']);
      expect(logs['size']).toBe(theirs['size']);
      expect(logs['loss']).toBeCloseTo(theirs['loss']!, 5);
      expect(logs['acc']).toBeCloseTo(theirs['acc']!, 6);
    });
    expect(history.decisions.length).toBe(15);
    tf.dispose([x, y]);
    reference.dispose();
    model.dispose();
  });

  it("trains on targets in fit's other layouts as fit does: integer labels under sparseCategoricalCrossentropy", async () => {
    const labels = ys.map((row) => row.indexOf(1));
    const [x, y] = [tf.tensor2d(xs), tf.tensor1d(labels, 'float32')];
    const make = (optimizer: string | tf.Optimizer) => {
      const model = classifier();
      model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
      return model;
    };
    const reference = make(tf.train.sgd(0.3));
    const fitHistory = await reference.fit(x, y, { batchSize: 32, epochs: 2, shuffle: false, verbose: 0 });
    const model = make('sgd');
    const history = await fitGuarded(model, x, y, { batchSize: 32, epochs: 2, shuffle: false, verbose: 0, optimizer: sgd({ lr: 0.3 }) });
    expect(maxDiff(flat(model), flat(reference))).toBeLessThan(1e-5);
    expect(sortedKeys(history.history)).toEqual(sortedKeys(fitHistory.history));
    (fitHistory.history['acc'] as number[]).forEach((v, e) => expect(history.history['acc']![e]).toBeCloseTo(v, 6));
    tf.dispose([x, y]);
    reference.dispose();
    model.dispose();
  });

  it('under a loss guard whose learned optimizer never wins equals model.fit with SGD; the decisions say so', async () => {
    const [x, y] = [tf.tensor2d(xs.slice(0, 96)), tf.tensor2d(ys.slice(0, 96))];
    const [xv, yv] = [tf.tensor2d(xs.slice(96)), tf.tensor2d(ys.slice(96))];
    const args = { batchSize: 16, epochs: 2, shuffle: false, validationData: [xv, yv] as [tf.Tensor, tf.Tensor], verbose: 0 } as const;

    const reference = classifier();
    reference.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const fitWeights: Float32Array[] = [];
    const fitHistory = await reference.fit(x, y, { ...args, callbacks: { onBatchEnd: async () => void fitWeights.push(flat(reference)) } });

    const model = classifier();
    const seen = recorder();
    const roundWeights: Float32Array[] = [];
    // 6 batches per epoch, rounds of k = 2 training batches, compared on the next m = 3.
    const guard = lossGuard({ learned: scripted([5]), fallback: sgd({ lr: 0.3 }), k: 2, m: 3 });
    const callbacks = [seen.callbacks, { onBatchEnd: async () => void roundWeights.push(flat(model)) }];
    const history = await fitGuarded(model, x, y, { ...args, optimizer: guard, callbacks });

    expect(maxDiff(flat(model), flat(reference))).toBeLessThan(1e-5);
    // A callback sees the point the round chose: fit's weights after every second batch.
    roundWeights.forEach((w, r) => expect(maxDiff(w, fitWeights[2 * r + 1]!)).toBeLessThan(1e-5));
    expect(history.history['learned_share']).toEqual([0, 0]);
    (fitHistory.history['val_loss'] as number[]).forEach((v, e) => expect(history.history['val_loss']![e]).toBeCloseTo(v, 5));
    expect(history.decisions.map((d) => d.winner)).toEqual(Array(6).fill('fallback'));
    expect(history.decisions.map((d) => d.epoch)).toEqual([0, 0, 0, 1, 1, 1]);
    expect(seen.batches.map((b) => [b['batch'], b['size'], b['use_l2o']])).toEqual([0, 1, 2, 0, 1, 2].map((r) => [r, 32, 0]));
    tf.dispose([x, y, xv, yv]);
    reference.dispose();
    model.dispose();
  });

  it('records a learned optimizer that wins: learned_share is the epoch mean of the rounds it won; tf.memory stays flat', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const model = classifier([]);
    const guard = lossGuard({ learned: l2o.load('default'), fallback: sgd({ lr: 0.05 }), k: 3, m: 2 });
    const args = { batchSize: 10, epochs: 3, optimizer: guard, verbose: 0, seed: 4 } as const;
    await fitGuarded(model, x, y, { ...args, epochs: 1 });
    const tensors = tf.memory().numTensors;
    const history = await fitGuarded(model, x, y, args);
    expect(tf.memory().numTensors).toBe(tensors);

    // 10 batches per epoch, k = 3: rounds end after batches 3, 6, 9, 12 (closing epoch 1), 15, 18, 21 (closing 2), 24, 27, 30.
    expect(history.decisions.map((d) => d.epoch)).toEqual([0, 0, 0, 0, 1, 1, 1, 2, 2, 2]);
    const won = history.decisions.map((d) => d.useL2O ?? -1);
    expect(won.every((w) => w === 0 || w === 1)).toBe(true);
    expect(won.some((w) => w === 1)).toBe(true);
    const share = (e: number) => {
      const rounds = history.decisions.filter((d) => d.epoch === e);
      return rounds.reduce((n, d) => n + d.useL2O!, 0) / rounds.length;
    };
    (history.history['learned_share'] as number[]).forEach((v, e) => expect(v).toBeCloseTo(share(e), 10));
    history.decisions.forEach((d) => expect(d.loss).toBe(d.winner === 'learned' ? d.l2oLoss : d.fallbackLoss));
    tf.dispose([x, y]);
    model.dispose();
  });

  it('lets callbacks see the point each round chose, not the last candidate it evaluated', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const model = classifier([]);
    const start = flat(model);
    // The learned candidate stays put; the fallback climbs the loss, is compared last, and loses.
    // (sgd refuses a negative learning rate, so the climb is an optimizer of its own.)
    const climb = {
      name: 'climb',
      init: (): Record<string, never> => ({}),
      step: (p: tf.Tensor1D, g: tf.Tensor1D, s: Record<string, never>) => [tf.tidy(() => p.add(g.mul(20)) as tf.Tensor1D), s] as const,
    };
    const guard = lossGuard({ learned: scripted([0]), fallback: climb, k: 2, m: 2 });
    const seen: number[] = [];
    const callbacks = { onBatchEnd: async () => void seen.push(maxDiff(flat(model), start)) };
    const history = await fitGuarded(model, x, y, { batchSize: 10, epochs: 1, verbose: 0, optimizer: guard, callbacks });
    expect(history.decisions.every((d) => d.winner === 'learned')).toBe(true);
    expect(seen).toEqual(Array(5).fill(0));
    tf.dispose([x, y]);
    model.dispose();
  });

  it('takes callback objects and arrays as fit does, and stops when a callback sets model.stopTraining', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const model = classifier([]);
    const calls: string[] = [];
    const custom = new tf.CustomCallback({
      onTrainBegin: async () => void calls.push('trainBegin'),
      onEpochBegin: async (e) => void calls.push(`epochBegin ${e}`),
      onBatchBegin: async (b) => void calls.push(`batchBegin ${b}`),
      onBatchEnd: async (b) => {
        calls.push(`batchEnd ${b}`);
        if (b === 1) model.stopTraining = true;
      },
      onEpochEnd: async (e) => void calls.push(`epochEnd ${e}`),
      onTrainEnd: async () => void calls.push('trainEnd'),
    });
    const history = await fitGuarded(model, x, y, { batchSize: 25, epochs: 5, optimizer: sgd({ lr: 0.1 }), verbose: 0, callbacks: [custom] });
    expect(calls).toEqual(['trainBegin', 'epochBegin 0', 'batchBegin 0', 'batchEnd 0', 'batchBegin 1', 'batchEnd 1', 'epochEnd 0', 'trainEnd']);
    expect(history.epoch).toEqual([0]);

    // tfjs's own EarlyStopping: no improvement by 1e9 after the first epoch stops the second.
    const stopper = tf.callbacks.earlyStopping({ monitor: 'loss', minDelta: 1e9, patience: 1 });
    const stopped = await fitGuarded(model, x, y, { batchSize: 25, epochs: 5, optimizer: sgd({ lr: 0.1 }), verbose: 0, callbacks: stopper });
    expect(stopped.epoch).toEqual([0, 1]);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('shuffles with a seeded permutation per epoch: the same seed, the same run; initialEpoch counts on', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const run = async (seed: number, initialEpoch = 0) => {
      const model = classifier([]);
      const history = await fitGuarded(model, x, y, { batchSize: 20, epochs: 3, initialEpoch, seed, optimizer: sgd({ lr: 0.3 }), verbose: 0 });
      const weights = flat(model);
      model.dispose();
      return { weights, history };
    };
    const [a, b, c, later] = [await run(7), await run(7), await run(8), await run(7, 1)];
    expect(maxDiff(a.weights, b.weights)).toBe(0);
    expect(maxDiff(a.weights, c.weights)).toBeGreaterThan(1e-3);
    expect(later.history.epoch).toEqual([1, 2]);
    expect(later.history.decisions.map((d) => d.epoch)).toEqual([...Array(5).fill(1), ...Array(5).fill(2)]);
    tf.dispose([x, y]);
  });

  it('names what is wrong with its arguments', async () => {
    const [x, y] = [tf.tensor2d(xs), tf.tensor2d(ys)];
    const model = classifier([]);
    await expect(fitGuarded(model, x, y, { optimizer: tf.train.sgd(0.1) as never })).rejects.toThrow(/args\.optimizer is a tf\.Optimizer: use model\.fit/);
    await expect(fitGuarded(model, x, y, {} as never)).rejects.toThrow(/args\.optimizer must be an lgl2o optimizer.*got nothing/);
    await expect(fitGuarded(model, x, y.slice(0, 50), { optimizer: sgd({ lr: 0.1 }) })).rejects.toThrow(/x has 100 examples, y has 50/);
    await expect(fitGuarded(model, x, y, { optimizer: sgd({ lr: 0.1 }), batchSize: 0 })).rejects.toThrow(/args\.batchSize must be an integer ≥ 1, got 0/);
    const badSplit = fitGuarded(model, x, y, { optimizer: sgd({ lr: 0.1 }), validationSplit: 1.5 });
    await expect(badSplit).rejects.toThrow(/validationSplit must be in \[0, 1\), got 1\.5/);
    const uncompiled = tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [2] })] });
    await expect(fitGuarded(uncompiled, x, y, { optimizer: sgd({ lr: 0.1 }) })).rejects.toThrow(/compile the model first/);
    await expect(fitDatasetGuarded(model, tf.data.array([1, 2, 3]).batch(2) as never, { optimizer: sgd({ lr: 0.1 }), verbose: 0 })).rejects.toThrow(
      /dataset elements must be \{ xs, ys \} or \[xs, ys\]/,
    );
    tf.dispose([x, y]);
    model.dispose();
    uncompiled.dispose();
  });
});

describe('fitDatasetGuarded: lgl2o optimizers in the shape of model.fitDataset', () => {
  const { x: xs, y: ys } = blobs(96, 8);
  const dataset = () => tf.data.zip({ xs: tf.data.array(xs.map((r) => tf.tensor1d(r))), ys: tf.data.array(ys.map((r) => tf.tensor1d(r))) }).batch(16);

  it('with plain SGD, and under a never-winning guard, equals model.fitDataset with tf.train.sgd', async () => {
    const [xv, yv] = [tf.tensor2d(xs.slice(0, 20)), tf.tensor2d(ys.slice(0, 20))];
    const reference = classifier();
    reference.compile({ optimizer: tf.train.sgd(0.3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const fitHistory = await reference.fitDataset(dataset(), { epochs: 2, validationData: [xv, yv], verbose: 0 });

    const plainModel = classifier();
    // The same validation examples as a dataset (evaluateDataset) instead of tensors (evaluate).
    const rowsOf = (m: number[][]) => tf.data.array(m.slice(0, 20).map((r) => tf.tensor1d(r)));
    const validation = tf.data.zip({ xs: rowsOf(xs), ys: rowsOf(ys) }).batch(5);
    const plainHistory = await fitDatasetGuarded(plainModel, dataset(), { epochs: 2, validationData: validation, verbose: 0, optimizer: sgd({ lr: 0.3 }) });
    const guarded = classifier();
    const guard = lossGuard({ learned: scripted([-4]), fallback: sgd({ lr: 0.3 }), k: 2, m: 2 });
    const source = dataset();
    const tensors = tf.memory().numTensors;
    const guardHistory = await fitDatasetGuarded(guarded, source, { epochs: 2, verbose: 0, optimizer: guard });
    expect(tf.memory().numTensors).toBe(tensors); // every batch read (and read ahead) is freed

    expect(maxDiff(flat(plainModel), flat(reference))).toBeLessThan(1e-5);
    expect(maxDiff(flat(guarded), flat(reference))).toBeLessThan(1e-5);
    expect(sortedKeys(plainHistory.history)).toEqual(sortedKeys(fitHistory.history));
    (fitHistory.history['loss'] as number[]).forEach((v, e) => expect(plainHistory.history['loss']![e]).toBeCloseTo(v, 5));
    (fitHistory.history['val_acc'] as number[]).forEach((v, e) => expect(plainHistory.history['val_acc']![e]).toBeCloseTo(v, 6));
    (fitHistory.history['val_loss'] as number[]).forEach((v, e) => expect(plainHistory.history['val_loss']![e]).toBeCloseTo(v, 5));
    expect(guardHistory.decisions.length).toBe(6);
    expect(guardHistory.history['learned_share']).toEqual([0, 0]);
    tf.dispose([xv, yv]);
    for (const m of [reference, plainModel, guarded]) m.dispose();
  });
});
