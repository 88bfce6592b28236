/**
 * lgl2o: guarded learned optimizers for TensorFlow.js.
 *
 * A learned optimizer (a coordinate-wise LSTM) runs under a guard that keeps the convergence
 * guarantee of a hand-designed optimizer. Optimizers are pure `init`/`step` pairs; guards are
 * round optimizers; training is an RxJS operator from a stream of batches to a stream of
 * `StepEvent`s:
 *
 * ```ts
 * import { selectBackend, mnist, train, mlp, lossGuard, l2o, sgd, inversePower } from 'lgl2o';
 * await selectBackend();
 * mnist.train$({ batchSize: 128, seed: 1 }).pipe(
 *   train({
 *     optimizee: mlp([784, 20, 10]),
 *     optimizer: lossGuard({ learned: l2o.load('default'), fallback: sgd({ lr: inversePower(3.0, 50_000, 1.5) }), k: 10, m: 10 }),
 *     steps: 100_000,
 *   }),
 * ).subscribe((event) => console.log(event.step, event.loss));
 * ```
 *
 * This file is an entry point (layer 3 of the house plan): it re-exports the pure core in
 * `src/` and the reactive layer in `streams/`, and turns the core's `Either` errors into
 * exceptions where a fluent call reads better (`l2o.load`, `decodeRunConfig`).
 *
 * @packageDocumentation
 */
import * as E from 'fp-ts/lib/Either.js';
import { buildLearned } from './config/build.js';
import { decodeWith } from './config/decode.js';
import { RunConfig } from './config/run.js';
import { l2o as l2oOptimizer } from './l2o/lstm.js';
import type { L2OArchitecture, L2OWeights } from './l2o/weights.js';
import type { AnyOptimizer, Optimizer } from './optim/optimizer.js';
import type { L2OState } from './l2o/lstm.js';

const orThrow = <A>(result: E.Either<Error, A>): A => {
  if (E.isLeft(result)) throw result.left;
  return result.right;
};

// ── Backend and randomness ───────────────────────────────────────────────────────────────
export { selectBackend, currentBackend, BACKENDS, type BackendName } from './tensor/backend.js';
export { Rng, type RngState } from './tensor/rng.js';
export { disposeAll, disposeReplaced, tensorsOf, type StateRecord, type StateValue } from './tensor/state.js';

// ── Optimizers: pure init/step pairs ─────────────────────────────────────────────────────
export { erase, resetState, type AnyOptimizer, type Optimizer } from './optim/optimizer.js';
export { sgd, momentum, type SgdState, type MomentumState } from './optim/sgd.js';
export { adam, type AdamOptions, type AdamState } from './optim/adam.js';
export { constant, inversePower, type Schedule } from './optim/schedule.js';

// ── The learned optimizer ────────────────────────────────────────────────────────────────
/**
 * The learned optimizer: `l2o(weights, architecture?)` from weights in memory, or
 * `l2o.load(source)` from a checkpoint path, `'default'` (the shipped one, meta-trained on
 * mlp-mnist) or `'random:SEED'` (an untrained LSTM). `load` throws a `DecodeError` naming
 * the file and field when a checkpoint is unreadable.
 */
export const l2o: ((weights: L2OWeights, architecture?: L2OArchitecture) => Optimizer<L2OState>) & { load(source: string): AnyOptimizer } = Object.assign(
  (weights: L2OWeights, architecture?: L2OArchitecture) => l2oOptimizer(weights, architecture),
  { load: (source: string): AnyOptimizer => orThrow(buildLearned({ type: 'l2o', checkpoint: source })) },
);
export type { L2OState } from './l2o/lstm.js';
export { DEFAULT_ARCHITECTURE, randomWeights, disposeWeights, type L2OArchitecture, type L2OWeights } from './l2o/weights.js';
export { loadCheckpoint, decodeCheckpoint, encodeCheckpoint, type L2OCheckpoint } from './l2o/checkpoint.js';
export { defaultCheckpointPath } from './paths.js';

// ── Guards: round optimizers around a learned and a fallback optimizer ──────────────────
export { lossGuard, DEFAULT_K, DEFAULT_M, type LossGuardOptions, type LossGuardState, type AdaptiveOptions, type StatePolicy } from './guard/lossGuard.js';
export { safeguard, MU_SEQUENCES, type SafeguardOptions, type SafeguardState, type MuSequence } from './guard/safeguard.js';
export { plain, type PlainState } from './guard/plain.js';
export type { DecisionRule } from './guard/decide.js';
export type { Divergence, RoundOptimizer, RoundReport, RoundResult, RoundState, Winner } from './guard/round.js';

// ── Optimizees: objectives over a flat parameter vector ─────────────────────────────────
export type { Batch, Objective, TensorBatch } from './optimizee/objective.js';
export { toTensorBatch, disposeTensorBatch, EMPTY_BATCH } from './optimizee/batch.js';
export { mlp } from './optimizee/mlp.js';
export { convnet, conv3, conv5, type ConvnetOptions } from './optimizee/convnet.js';
export { exactQuadratic, leastSquares, type ExactQuadratic, type ExactQuadraticOptions } from './optimizee/quadratic.js';
export { layersModelObjective, readParams, writeParams, LOSS_NAMES, type LayersModelOptions, type LossName, type PerExampleLoss } from './optimizee/layersModel.js';

// ── Datasets (in memory) and the paper's tasks ──────────────────────────────────────────
export { loadDataset, DATASET_NAMES, type DatasetName, type LoadedDataset, type LoadOptions } from './data/index.js';
export { gather, slice, type Dataset, type Splits } from './data/dataset.js';
export { BatchSampler, type SamplerState } from './data/sampler.js';
export { circles as makeCircles, spirals as makeSpirals, syntheticSplits } from './data/synthetic.js';
export { loadMnist, loadFashionMnist } from './data/mnist.js';
export { loadCifar10 } from './data/cifar10.js';
export { loadTinyImagenet } from './data/tinyImagenet.js';
export { MissingDataError } from './data/files.js';
export { TASKS, TASK_IDS, findTask, loadTask, type Task, type TaskDefaults } from './tasks/index.js';

// ── Configs: io-ts codecs, the JSON form of a pipeline ──────────────────────────────────
export { RunConfig, OptimizerConfig, type HandDesignedConfig } from './config/run.js';
export { buildOptimizer } from './config/build.js';
export { DecodeError, decodeWith, parseJson } from './config/decode.js';
/** Decodes a run config (the JSON of `lgl2o run --config`); throws a `DecodeError` naming the field. */
export const decodeRunConfig = (json: unknown, source = 'config'): RunConfig => orThrow(decodeWith(RunConfig, json, source));

// ── Verification of the convergence claims (theory mode) ────────────────────────────────
export { checkTheoryCase, theoryProblem, type TheoryCase, type TheoryOptions, type Violation, type CaseSummary, type Claim } from './verify/theory.js';
export { verifyTheory, theoryCases, theoryHolds, TheoryViolation, DEFAULT_RANGES, type VerifyOptions, type VerifyReport, type CaseRanges } from './verify/property.js';

// ── Streams: sources, the train operator, sinks ─────────────────────────────────────────
export { trainOptimizee as train, type Optimizee, type TrainOptimizeeOptions as TrainOptions } from '../streams/optimizee.js';
export { DivergenceError, SourceEndedError, type Evaluation, type SourceEnd } from '../streams/train.js';
export type { StepEvent } from '../streams/events.js';
export { batches$, pulled, type BatchStreamOptions } from '../streams/source.js';
export { dataset, mnist, fashionMnist, circles, spirals, type DatasetStreams, type SplitStreamOptions } from '../streams/datasets.js';
export { LIVE_LIMITS, LiveIdleError, liveSource, LiveRecordError, type LiveSpec, type LiveOptions, type LiveSource, type LiveStats } from '../streams/live.js';
export { ndjsonSink } from '../streams/ndjson.js';
export { progressBar, type ProgressOptions } from '../streams/progress.js';
export { runJob, type RunJobOptions, type RunSummary } from '../streams/runJob.js';
