/**
 * `npx tsx bench/fit.ts [--examples N] [--reps R]`: one epoch of the MNIST MLP (784-20-10,
 * batch 128) through tfjs's `model.fit` and lgl2o's fit-shaped entry points, as a ratio to
 * `model.fit` with `tf.train.sgd` measured in the same run (medians of R repetitions).
 * A benchmark, not a test: compare the ratios of one run.
 */
import * as tf from '@tensorflow/tfjs';
import { fitGuarded, l2o, l2oOptimizer, loadMnist, lossGuard, selectBackend, sgd } from '../index.js';

const argv = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const count = option('examples', 10_000);
const reps = option('reps', 3);
const args = { batchSize: 128, epochs: 1, shuffle: false, verbose: 0 } as const;

console.log(`backend ${await selectBackend()}, ${count} examples, batch ${args.batchSize}, ${reps} repetitions`);
const splits = loadMnist();
if (splits._tag === 'Left') throw splits.left;
const { train } = splits.right;
const x = tf.tensor2d(train.x.subarray(0, count * 784), [count, 784]);
const y = tf.tidy(() => tf.oneHot(tf.tensor1d(train.y.subarray(0, count), 'int32'), 10).toFloat());

function mlp(optimizer: string | tf.Optimizer): tf.LayersModel {
  const model = tf.sequential({
    layers: [tf.layers.dense({ units: 20, activation: 'sigmoid', inputShape: [784] }), tf.layers.dense({ units: 10, activation: 'softmax' })],
  });
  model.compile({ optimizer, loss: 'categoricalCrossentropy' });
  return model;
}

const guard = () => lossGuard({ learned: l2o.load('default'), fallback: sgd({ lr: 1 }), k: 10, m: 10 });
const cases: Array<[string, () => tf.LayersModel, (model: tf.LayersModel) => Promise<unknown>]> = [
  ['model.fit, tf.train.sgd', () => mlp(tf.train.sgd(1)), (m) => m.fit(x, y, args)],
  ['fitGuarded, sgd', () => mlp('sgd'), (m) => fitGuarded(m, x, y, { ...args, optimizer: sgd({ lr: 1 }) })],
  ['model.fit, l2oOptimizer()', () => mlp(l2oOptimizer()), (m) => m.fit(x, y, args)],
  ['fitGuarded, l2o.load()', () => mlp('sgd'), (m) => fitGuarded(m, x, y, { ...args, optimizer: l2o.load('default') })],
  ['fitGuarded, lossGuard k=m=10', () => mlp('sgd'), (m) => fitGuarded(m, x, y, { ...args, optimizer: guard() })],
];

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let r = 0; r < reps + 1; r++) {
  for (const [name, make, run] of cases) {
    const model = make();
    const start = performance.now();
    await run(model);
    if (r > 0) times.get(name)!.push(performance.now() - start); // the first round warms up
    model.optimizer.dispose();
    model.dispose();
  }
}
const base = median(times.get(cases[0]![0])!);
console.log('| entry point | ms per epoch | ratio |\n| --- | --- | --- |');
for (const [name, ms] of times) console.log(`| ${name} | ${median(ms).toFixed(0)} | ${(median(ms) / base).toFixed(2)} |`);
