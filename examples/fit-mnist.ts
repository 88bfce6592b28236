/**
 * lgl2o where TensorFlow.js users already are: `model.compile` and `model.fit`, plain Promises.
 * Trains the same MNIST classifier (784-20-10, the learned optimizer's training task) three
 * ways from the same initial weights, and compares them on held-out digits:
 *   1. tfjs's own `model.fit` with `tf.train.sgd`,
 *   2. `model.fit` with the learned optimizer: `model.compile({ optimizer: l2oOptimizer() })`,
 *   3. `fitGuarded` with the loss guard around both (LGL2O).
 *
 *   npx tsx examples/fit-mnist.ts [examples] [epochs]      (defaults: 10000 examples, 3 epochs)
 *
 * In your own project, import from 'lgl2o' instead of '../index.js'.
 */
import * as tf from '@tensorflow/tfjs';
import { fitGuarded, l2o, l2oOptimizer, loadMnist, lossGuard, selectBackend, sgd } from '../index.js';

const count = Number(process.argv[2] ?? 10_000);
const epochs = Number(process.argv[3] ?? 3);
const LR = 1.0;
const BATCH = 128;

console.log(`backend: ${await selectBackend()}`);
const splits = loadMnist();
if (splits._tag === 'Left') throw splits.left;
const { train, test } = splits.right;

/** The first n examples of a split as tensors: pixels [n, 784], one-hot labels [n, 10]. */
const tensors = (data: typeof train, n: number) =>
  tf.tidy(() => [tf.tensor2d(data.x.subarray(0, n * 784), [n, 784]), tf.oneHot(tf.tensor1d(data.y.subarray(0, n), 'int32'), 10).toFloat()] as const);
const [x, y] = tensors(train, count);
const [xTest, yTest] = tensors(test, 2000);

/** The same model (seeded initial weights) for every run. */
function mlp(optimizer: string | tf.Optimizer = 'sgd'): tf.LayersModel {
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 20, activation: 'sigmoid', inputShape: [784], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }),
      tf.layers.dense({ units: 10, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }),
    ],
  });
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

const testScores = (model: tf.LayersModel) => {
  const [loss, acc] = (model.evaluate(xTest, yTest) as tf.Scalar[]).map((s) => s.dataSync()[0]!);
  return `test loss ${loss!.toFixed(4)}, test accuracy ${(100 * acc!).toFixed(1)}%`;
};

const fitArgs = { batchSize: BATCH, epochs, shuffle: false, validationSplit: 0.1, verbose: 0 } as const;

const bySgd = mlp(tf.train.sgd(LR));
await bySgd.fit(x, y, fitArgs);
console.log(`1. model.fit, tf.train.sgd(${LR}):     ${testScores(bySgd)}`);

const byLearned = mlp(l2oOptimizer('default'));
await byLearned.fit(x, y, fitArgs);
console.log(`2. model.fit, l2oOptimizer():        ${testScores(byLearned)}`);

const guarded = mlp();
const history = await fitGuarded(guarded, x, y, {
  ...fitArgs,
  verbose: 1,
  optimizer: lossGuard({ learned: l2o.load('default'), fallback: sgd({ lr: LR }), k: 10, m: 10 }),
  callbacks: {
    onEpochEnd: async (epoch, logs) => console.log(`   epoch ${epoch + 1}: the learned optimizer won ${(100 * logs!['learned_share']!).toFixed(0)}% of rounds`),
  },
});
console.log(`3. fitGuarded, lossGuard(l2o, sgd):  ${testScores(guarded)}`);
const winners = history.decisions.map((d) => (d.winner === 'learned' ? 'L' : 'S')).join('');
console.log(`   rounds (L learned, S sgd): ${winners}`);
