import * as tf from '@tensorflow/tfjs';
import { lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { batches$, gather, l2o, layersModelObjective, lossGuard, Rng, readParams, sgd, toTensorBatch, train, writeParams } from '../index.js';
import type { Batch } from '../src/data/batch.js';
import type { Dataset } from '../src/data/dataset.js';
import { disposeTensorBatch } from '../src/optimizee/tensorBatch.js';

const linearModel = () => {
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
  model.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return model;
};

const classifier = (seed: number) => {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 8, activation: 'tanh', inputShape: [2], kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
  return model;
};

/** Two Gaussian blobs, class 0 around (−1, −1) and class 1 around (1, 1), σ = 0.5. */
function blobs(count: number, seed: number): Dataset {
  const rng = Rng.seeded(seed);
  const x = new Float32Array(2 * count);
  const y = Int32Array.from({ length: count }, (_, i) => i % 2);
  for (let i = 0; i < count; i++) for (let j = 0; j < 2; j++) x[2 * i + j] = (y[i] === 1 ? 1 : -1) + 0.5 * rng.normal();
  return { name: 'blobs', x, y, shape: [2], count, classes: 2 };
}

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('layersModelObjective', () => {
  it('gives the hand-worked loss and gradient of a linear model under MSE, whatever the model holds', () => {
    const model = linearModel();
    const objective = layersModelObjective(model);
    expect(objective.size).toBe(3); // kernel [2, 1], then bias [1]
    const batch = toTensorBatch([{ x: Float32Array.from([1, 2, 3, -1]), y: Float32Array.from([1, 0]), shape: [2], size: 2 }]);
    const params = tf.tensor1d([0.5, -1, 0.25]);
    // predictions −1.25 and 2.75 against targets 1 and 0
    const perExample = objective.perExampleLoss(params, batch);
    expect(values(perExample)[0]).toBeCloseTo(5.0625, 5);
    expect(values(perExample)[1]).toBeCloseTo(7.5625, 5);
    writeParams(
      model,
      tf.tidy(() => tf.tensor1d([9, 9, 9])),
    ); // scratch weights must not matter
    const { loss, grad } = objective.lossAndGrad(params, batch);
    expect(values(loss)[0]).toBeCloseTo(6.3125, 5);
    // mean 2 (pred − y) [x1, x2, 1] = ([−4.5, −9, −4.5] + [16.5, −5.5, 5.5]) / 2
    values(grad).forEach((g, i) => expect(g).toBeCloseTo([6, -7.25, 0.5][i]!, 4));
    tf.dispose([perExample, loss, grad, params]);
    disposeTensorBatch(batch);
    model.dispose();
  });

  it('matches model.predict for the loss and central differences for the gradient of a classifier', () => {
    const model = classifier(3);
    const objective = layersModelObjective(model);
    const batch: Batch = { x: Float32Array.from([0.5, -1, 1.5, 0.25, -0.75, 0.1]), y: Int32Array.from([1, 0, 1]), shape: [2], size: 3 };
    const tb = toTensorBatch([batch]);
    const params = tf.tidy(() => readParams(model).add(0.1) as tf.Tensor1D);
    const perExample = values(objective.perExampleLoss(params, tb));

    // Independent path: the model's own prediction with the same weights set through setWeights.
    const shapes = model.getWeights().map((w) => w.shape);
    let offset = 0;
    const flat = values(params);
    model.setWeights(shapes.map((s) => tf.tensor(flat.slice(offset, (offset += s.reduce((a, b) => a * b, 1))), s)));
    const probs = values(model.predict(tb.x) as tf.Tensor);
    [1, 0, 1].forEach((label, i) => expect(perExample[i]).toBeCloseTo(-Math.log(probs[2 * i + label]!), 4));

    const { loss, grad } = objective.lossAndGrad(params, tb);
    const g = values(grad);
    const h = 1e-2;
    const lossAt = (i: number, delta: number) =>
      tf.tidy(
        () =>
          objective
            .perExampleLoss(params.add(tf.oneHot(i, objective.size).toFloat().mul(delta)) as tf.Tensor1D, tb)
            .mean()
            .dataSync()[0]!,
      );
    for (const i of [0, 5, 13, 20, objective.size - 1]) {
      expect(g[i]).toBeCloseTo((lossAt(i, h) - lossAt(i, -h)) / (2 * h), 3);
    }
    expect(values(objective.accuracy!(params, tb))[0]).toBeCloseTo([1, 0, 1].filter((label, i) => probs[2 * i + label]! > 0.5).length / 3, 6);
    tf.dispose([loss, grad, params]);
    disposeTensorBatch(tb);
    model.dispose();
  });

  it('refuses a model without a usable loss, naming the choices', () => {
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 1, inputShape: [2] })] });
    expect(() => layersModelObjective(model)).toThrow(/options\.loss.*sparseCategoricalCrossentropy/);
    model.dispose();
  });
});

describe('a user-built tf.sequential as the optimizee of train', () => {
  it('trains under lossGuard: the loss drops, the weights change, the model ends at the chosen point', async () => {
    const model = classifier(7);
    const test = gather(
      blobs(500, 99),
      Array.from({ length: 500 }, (_, i) => i),
    );
    const testLoss = () =>
      tf.tidy(() => {
        const tb = toTensorBatch([test]);
        const p = model.predict(tb.x) as tf.Tensor;
        return tf.metrics.categoricalCrossentropy(tf.oneHot(tb.y.toInt(), 2), p).mean().dataSync()[0]!;
      });
    const before = values(readParams(model));
    const lossBefore = testLoss();
    const learned = l2o.load('random:1');
    const tensorsBefore = tf.memory().numTensors;

    let finalParams: number[] = [];
    const events = await lastValueFrom(
      batches$(blobs(2000, 1), { batchSize: 64, seed: 1 }).pipe(
        train({
          optimizee: model,
          optimizer: lossGuard({ learned, fallback: sgd({ lr: 0.5 }), k: 5, m: 5 }),
          steps: 100,
          onFinish: (params) => {
            finalParams = values(params);
            params.dispose();
          },
        }),
        toArray(),
      ),
    );

    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(events.at(-1)!.step).toBe(100);
    const after = values(readParams(model));
    expect(after).toEqual(finalParams);
    const changed = after.filter((v, i) => Math.abs(v - before[i]!) > 1e-3).length;
    expect(changed).toBeGreaterThan(after.length / 2);
    const lossAfter = testLoss();
    expect(lossAfter).toBeLessThan(0.5 * lossBefore);
    model.dispose();
  });

  it('keeps the model at its last chosen point when the stream is cut short', async () => {
    const model = classifier(11);
    const source = batches$(blobs(200, 2), { batchSize: 32, seed: 2 });
    let last: number[] = [];
    const ends: unknown[] = [];
    const guard = lossGuard({ learned: sgd({ lr: 0.3 }), fallback: sgd({ lr: 0.1 }), k: 1, m: 1 });
    const events = await lastValueFrom(
      source.pipe(
        take(7), // 7 batches: 3 rounds of 2, then the source ends with 1 of the next round's 2
        train({
          optimizee: model,
          optimizer: guard,
          steps: 100,
          untilSourceEnds: true,
          onSourceEnd: (e) => ends.push(e),
          onRound: (s) => (last = values(s.x)),
        }),
        toArray(),
      ),
    );
    expect(events).toHaveLength(3);
    expect(ends).toEqual([{ step: 3, unused: 1, needed: 2 }]);
    expect(values(readParams(model))).toEqual(last);
    model.dispose();
  });
});
