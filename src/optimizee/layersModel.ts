import * as tf from '@tensorflow/tfjs';
import type { Objective, TensorBatch } from './objective.js';

/** Loss of each example from the batch's targets `y` (one label or value each) and the model's output. */
export type PerExampleLoss = (y: tf.Tensor1D, yPred: tf.Tensor) => tf.Tensor1D;

/** Keras loss names the adapter understands, with labels (classifiers) or one target per example. */
export const LOSS_NAMES = ['sparseCategoricalCrossentropy', 'categoricalCrossentropy', 'binaryCrossentropy', 'meanSquaredError', 'meanAbsoluteError'] as const;
export type LossName = (typeof LOSS_NAMES)[number];

export interface LayersModelOptions {
  /** The objective's loss; default: the loss the model was compiled with (one of `LOSS_NAMES`). */
  readonly loss?: LossName | PerExampleLoss;
  readonly name?: string;
}

/** A batch's targets as a column [n, 1], the shape of a one-output model's predictions. */
const column = (y: tf.Tensor1D): tf.Tensor2D => y.toFloat().reshape([y.shape[0], 1]);
const oneHot = (y: tf.Tensor1D, yPred: tf.Tensor): tf.Tensor => tf.oneHot(y.toInt(), yPred.shape[yPred.shape.length - 1]!).toFloat();

// Both categorical losses read integer labels: a Batch carries one label per example.
const NAMED_LOSSES: Record<LossName, PerExampleLoss> = {
  sparseCategoricalCrossentropy: (y, p) => tf.metrics.categoricalCrossentropy(oneHot(y, p), p) as tf.Tensor1D,
  categoricalCrossentropy: (y, p) => tf.metrics.categoricalCrossentropy(oneHot(y, p), p) as tf.Tensor1D,
  binaryCrossentropy: (y, p) => tf.metrics.binaryCrossentropy(column(y), p) as tf.Tensor1D,
  meanSquaredError: (y, p) => tf.metrics.meanSquaredError(column(y), p) as tf.Tensor1D,
  meanAbsoluteError: (y, p) => tf.metrics.meanAbsoluteError(column(y), p) as tf.Tensor1D,
};

const isLossName = (name: unknown): name is LossName => typeof name === 'string' && (LOSS_NAMES as readonly string[]).includes(name);

function resolveLoss(model: tf.LayersModel, option: LossName | PerExampleLoss | undefined): { perExample: PerExampleLoss; lossName?: LossName } {
  if (typeof option === 'function') return { perExample: option };
  const name: unknown = option ?? model.loss;
  if (isLossName(name)) return { perExample: NAMED_LOSSES[name], lossName: name };
  throw new RangeError(
    `${model.name}: give options.loss (a function or one of ${LOSS_NAMES.join(', ')}); the model's loss is ${JSON.stringify(model.loss ?? 'not set')}`,
  );
}

/** The model's trainable variables, in the order of the flat parameter vector. */
export function trainableVariables(model: tf.LayersModel): tf.Variable[] {
  return model.trainableWeights.map((w) => {
    const v = w.read();
    if (!(v instanceof tf.Variable)) throw new TypeError(`${model.name}: weight ${w.name} is not backed by a variable`);
    return v;
  });
}

/** The model's trainable weights, flattened and concatenated (a fresh tensor). */
export function readParams(model: tf.LayersModel): tf.Tensor1D {
  const vars = trainableVariables(model);
  return tf.tidy(() => tf.concat(vars.map((v) => v.reshape([-1]))) as tf.Tensor1D);
}

/** Writes a flat parameter vector into the model's trainable weights (`params` is not disposed). */
export function writeParams(model: tf.LayersModel, params: tf.Tensor1D): void {
  const vars = trainableVariables(model);
  const size = vars.reduce((n, v) => n + v.size, 0);
  if (params.shape[0] !== size) throw new RangeError(`${model.name}: expected ${size} parameters, got ${params.shape[0]}`);
  tf.tidy(() => {
    let offset = 0;
    for (const v of vars) {
      v.assign(params.slice(offset, v.size).reshape(v.shape));
      offset += v.size;
    }
  });
}

/**
 * The mean loss and its gradient as one flat vector in `vars`' order (zeros for a variable the
 * loss does not reach); `loss` must first write the parameters into the variables.
 */
export function variableLossAndGrad(vars: readonly tf.Variable[], loss: () => tf.Scalar): { loss: tf.Scalar; grad: tf.Tensor1D } {
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(loss, [...vars]);
    const grad = tf.concat(vars.map((v) => (grads[v.name] ?? tf.zeros(v.shape)).reshape([-1]))) as tf.Tensor1D;
    return { loss: value, grad };
  });
}

/** The model's single output for a batch, reshaping flat examples to the model's input shape. */
export function predict(model: tf.LayersModel, x: tf.Tensor, training: boolean): tf.Tensor {
  const n = x.shape[0]!;
  const inputShape = model.inputs[0]?.shape.slice(1) ?? [];
  const known = inputShape.every((d): d is number => d !== null);
  const input = known && inputShape.reduce((a, b) => a * b, 1) === x.size / n ? x.reshape([n, ...inputShape]) : x;
  const out = model.apply(input, { training });
  if (!(out instanceof tf.Tensor)) throw new TypeError(`${model.name}: expected one output tensor (models with several outputs are not supported)`);
  return out;
}

/** Fraction of correct predictions, for the classification losses. */
function accuracyFor(lossName: LossName | undefined): ((yPred: tf.Tensor, y: tf.Tensor1D) => tf.Scalar) | undefined {
  if (lossName === 'sparseCategoricalCrossentropy' || lossName === 'categoricalCrossentropy') {
    return (p, y) => p.argMax(-1).equal(y.toInt()).toFloat().mean() as tf.Scalar;
  }
  if (lossName === 'binaryCrossentropy') return (p, y) => p.reshape([-1]).greater(0.5).toFloat().equal(y.toFloat()).toFloat().mean() as tf.Scalar;
  return undefined;
}

/**
 * A `tf.LayersModel` (e.g. a `tf.sequential`) as an `Objective` over the flat vector of its
 * trainable weights. The model's variables are scratch space: every evaluation first writes
 * the given parameters into them, so results depend on the arguments only. Gradients run the
 * model in training mode (as `fit` does), losses and accuracy in inference mode (as
 * `evaluate` does). `init` returns the model's current weights, ignoring the generator.
 * Call `writeParams` to leave the model holding a chosen point.
 */
export function layersModelObjective(model: tf.LayersModel, options: LayersModelOptions = {}): Objective {
  const vars = trainableVariables(model);
  if (vars.length === 0) throw new RangeError(`${model.name}: the model has no trainable weights`);
  const { perExample, lossName } = resolveLoss(model, options.loss);
  const correct = accuracyFor(lossName);

  const lossAt = (params: tf.Tensor1D, batch: TensorBatch, training: boolean): tf.Tensor1D => {
    writeParams(model, params);
    return perExample(batch.y, predict(model, batch.x, training));
  };

  return {
    name: options.name ?? model.name,
    size: vars.reduce((n, v) => n + v.size, 0),
    init: () => readParams(model),
    perExampleLoss: (params, batch) => tf.tidy(() => lossAt(params, batch, false)),
    lossAndGrad: (params, batch) => variableLossAndGrad(vars, () => lossAt(params, batch, true).mean() as tf.Scalar),
    ...(correct
      ? {
          accuracy: (params: tf.Tensor1D, batch: TensorBatch) =>
            tf.tidy(() => {
              writeParams(model, params);
              return correct(predict(model, batch.x, false), batch.y);
            }),
        }
      : {}),
  };
}
