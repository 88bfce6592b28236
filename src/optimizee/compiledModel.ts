import * as tf from '@tensorflow/tfjs';
import { predict, readParams, trainableVariables, variableLossAndGrad, writeParams } from './layersModel.js';
import type { Objective, TensorBatch } from './objective.js';

/** An objective that also reports the model's compiled metrics, under `fit`'s log names. */
export interface CompiledObjective extends Objective {
  /** The metric names after `loss`, as `model.fit` logs them (e.g. `acc`). */
  readonly metricNames: readonly string[];
  /** Each compiled metric's mean over the batch at `params` (inference mode). */
  metrics(params: tf.Tensor1D, batch: TensorBatch): number[];
}

/**
 * The model that holds what `compile` set up: a `tf.Sequential` keeps its loss functions and
 * regularization losses in the `tf.LayersModel` it wraps (a private field in tfjs-layers 4).
 */
function compiledCore(model: tf.LayersModel): tf.LayersModel {
  const wrapped: unknown = model instanceof tf.Sequential ? (model as unknown as Record<string, unknown>)['model'] : undefined;
  return wrapped instanceof tf.LayersModel ? wrapped : model;
}

/** fit's log names: duplicates get `_1`, `_2`, … */
function dedupe(names: readonly string[]): string[] {
  return names.map((name, i) => (names.filter((n) => n === name).length > 1 ? `${name}_${names.slice(0, i).filter((n) => n === name).length}` : name));
}

/**
 * A compiled `tf.LayersModel` as `model.fit` trains it: the compiled loss, averaged over the
 * batch, plus the model's regularization losses, as an `Objective` over its trainable weights.
 * The batch's `y` holds each example's targets in fit's layout (labels, one-hot rows or
 * regression targets), flattened; they are reshaped to the model's output shape when their
 * size matches it, else to one row per example. Per-example losses carry the regularization
 * term too, so their mean is fit's loss. The model's variables are scratch space, as in
 * `layersModelObjective`.
 */
export function compiledModelObjective(model: tf.LayersModel): CompiledObjective {
  const compiled = compiledCore(model);
  const lossFunctions: unknown = compiled.lossFunctions; // undefined until compiled
  if (!Array.isArray(lossFunctions) || lossFunctions.length === 0) {
    throw new Error(`${model.name}: compile the model first (model.compile({ optimizer: 'sgd', loss }))`);
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1 || lossFunctions.length !== 1) {
    throw new RangeError(`${model.name}: only models with one input and one output are supported (got ${model.inputs.length} and ${model.outputs.length})`);
  }
  const lossFn = compiled.lossFunctions[0]!;
  const vars = trainableVariables(model);
  if (vars.length === 0) throw new RangeError(`${model.name}: the model has no trainable weights`);
  const outputShape = model.outputs[0]!.shape.slice(1);
  const outputSize = outputShape.every((d): d is number => d !== null) ? outputShape.reduce((a, b) => a * b, 1) : -1;

  const targets = (batch: TensorBatch): tf.Tensor => {
    const perExample = batch.y.size / batch.size;
    return perExample === outputSize ? batch.y.reshape([batch.size, ...(outputShape as number[])]) : batch.y.reshape([batch.size, perExample]);
  };
  /** Per-example loss (mean over any further axes) plus the regularization losses. */
  const lossAt = (params: tf.Tensor1D, batch: TensorBatch, training: boolean): tf.Tensor1D => {
    writeParams(model, params);
    const loss = lossFn(targets(batch), predict(model, batch.x, training))
      .reshape([batch.size, -1])
      .mean(1) as tf.Tensor1D;
    return compiled.calculateLosses().reduce<tf.Tensor1D>((sum, r) => sum.add(r), loss);
  };
  const metricFns = model.metricsTensors.map(([fn]) => fn);

  return {
    name: model.name,
    size: vars.reduce((n, v) => n + v.size, 0),
    metricNames: dedupe(model.metricsNames).slice(1),
    init: () => readParams(model),
    perExampleLoss: (params, batch) => tf.tidy(() => lossAt(params, batch, false)),
    lossAndGrad: (params, batch) => variableLossAndGrad(vars, () => lossAt(params, batch, true).mean() as tf.Scalar),
    metrics: (params, batch) =>
      tf.tidy(() => {
        writeParams(model, params);
        const out = predict(model, batch.x, false);
        const y = targets(batch);
        return metricFns.map((fn) => fn(y, out).mean().dataSync()[0]!);
      }),
  };
}
