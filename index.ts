/**
 * lgl2o: guarded learned optimizers for TensorFlow.js.
 *
 * A learned optimizer (a coordinate-wise LSTM or feature-MLP) runs under a guard that keeps the convergence
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
 * This file is an entry point (the top of the floor plan, docs/architecture.md): it re-exports
 * the pure core in `src/`, the reactive layer in `streams/` and the run jobs in `jobs/`, and turns the core's `Either` errors into
 * exceptions where a fluent call reads better (`l2o.load`, `decodeRunConfig`).
 *
 * @packageDocumentation
 */
import * as E from 'fp-ts/lib/Either.js';
import { buildLearned } from './src/config/build.js';
import { decodeWith } from './src/codec/decode.js';
import { RunConfig } from './src/config/run.js';
import { l2o as l2oFromWeights } from './src/l2o/lstm.js';
import type { L2OArchitecture, L2OWeights } from './src/l2o/weights.js';
import type { AnyOptimizer, Optimizer } from './src/optim/optimizer.js';
import type { L2OState } from './src/l2o/lstm.js';

const orThrow = <A>(result: E.Either<Error, A>): A => {
  if (E.isLeft(result)) throw result.left;
  return result.right;
};

// ── Backend and randomness ───────────────────────────────────────────────────────────────
export { selectBackend, currentBackend, BACKENDS, type BackendName } from './src/tensor/backend.js';
export { Rng, type RngState } from './src/tensor/rng.js';
export { disposeAll, disposeReplaced, tensorsOf, type StateRecord, type StateValue } from './src/tensor/state.js';

// ── Optimizers: pure init/step pairs ─────────────────────────────────────────────────────
export { erase, resetState, type AnyOptimizer, type Optimizer } from './src/optim/optimizer.js';
export { sgd, momentum, type SgdState, type MomentumState } from './src/optim/sgd.js';
export { adam, type AdamOptions, type AdamState } from './src/optim/adam.js';
export { constant, inversePower, type Schedule } from './src/optim/schedule.js';

// ── The learned optimizer ────────────────────────────────────────────────────────────────
/**
 * The learned optimizer: `l2o(weights, architecture?)` (the LSTM) from weights in memory, or
 * `l2o.load(source)` from a shipped name (`'lstm'`: the paper's 2×20 LSTM meta-trained on
 * mlp-mnist; `'feature-mlp'`: the feature-MLP; `'default'`: DEFAULT_L2O), a checkpoint path of
 * either architecture, or `'random:SEED'` (an untrained LSTM). `load` throws a `DecodeError`
 * naming the file and field when a checkpoint is unreadable, and listing the shipped names when
 * a name is unknown.
 */
export const l2o: ((weights: L2OWeights, architecture?: L2OArchitecture) => Optimizer<L2OState>) & { load(source: string): AnyOptimizer } = Object.assign(
  (weights: L2OWeights, architecture?: L2OArchitecture) => l2oFromWeights(weights, architecture),
  { load: (source: string): AnyOptimizer => orThrow(buildLearned({ type: 'l2o', checkpoint: source })) },
);
export type { L2OState } from './src/l2o/lstm.js';
export { DEFAULT_ARCHITECTURE, randomWeights, disposeWeights, type L2OArchitecture, type L2OWeights } from './src/l2o/weights.js';
export {
  loadCheckpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  disposeCheckpoint,
  isFeatureMlpCheckpoint,
  type L2OCheckpoint,
  type LstmCheckpoint,
  type FeatureMlpCheckpoint,
} from './src/l2o/weightsFile.js';
export { learnedOptimizer } from './src/l2o/learned.js';
export { SHIPPED_L2O, SHIPPED_NAMES, DEFAULT_L2O, defaultCheckpointPath, shippedCheckpointPath, type ShippedName } from './src/l2o/shipped.js';
export { featureMlp, type FeatureMlpOptState } from './src/l2o/featureMlpOptimizer.js';
export type { FeatureMlpHandover } from './src/l2o/featureMlpHandover.js';
export { FEATURE_MLP_ARCHITECTURE, adamLikeWeights, zeroFeatureMlpWeights, type FeatureMlpArchitecture, type FeatureMlpWeights } from './src/l2o/featureMlp.js';

// ── Inside TensorFlow.js: model.compile({ optimizer }), fit-shaped training ─────────────
export { L2OOptimizer, l2oOptimizer } from './src/fit/l2oOptimizer.js';
export { fitGuarded, type FitGuardedArgs } from './src/fit/fitGuarded.js';
export { fitDatasetGuarded, type FitDatasetGuardedArgs, type DatasetElement } from './src/fit/fitDatasetGuarded.js';
export type { GuardedOptimizer } from './src/fit/args.js';
export type { GuardedHistory, RoundDecision } from './src/fit/loop.js';
export { compiledModelObjective, type CompiledObjective } from './src/optimizee/compiledModel.js';

// ── Guards: round optimizers around a learned and a fallback optimizer ──────────────────
export { lossGuard, DEFAULT_K, DEFAULT_M, type LossGuardOptions, type LossGuardState, type AdaptiveOptions, type StatePolicy } from './src/guard/lossGuard.js';
export { safeguard, MU_SEQUENCES, type SafeguardOptions, type SafeguardState, type MuSequence } from './src/guard/safeguard.js';
export { plain, type PlainState } from './src/guard/plain.js';
export type { DecisionRule } from './src/guard/decide.js';
export type { Divergence, RoundOptimizer, RoundReport, RoundResult, RoundState, Winner } from './src/guard/round.js';

// ── Optimizees: objectives over a flat parameter vector ─────────────────────────────────
export type { Batch } from './src/data/batch.js';
export type { Objective, TensorBatch } from './src/optimizee/objective.js';
export { toTensorBatch, disposeTensorBatch, EMPTY_BATCH } from './src/optimizee/tensorBatch.js';
export { mlp } from './src/optimizee/mlp.js';
export { convnet, conv3, conv5, type ConvnetOptions } from './src/optimizee/convnet.js';
export { exactQuadratic, leastSquares, type ExactQuadratic, type ExactQuadraticOptions } from './src/optimizee/quadratic.js';
export {
  layersModelObjective,
  readParams,
  writeParams,
  LOSS_NAMES,
  type LayersModelOptions,
  type LossName,
  type PerExampleLoss,
} from './src/optimizee/layersModel.js';

// ── Datasets (in memory) and the paper's tasks ──────────────────────────────────────────
export { loadDataset, DATASET_NAMES, type DatasetName, type LoadedDataset, type LoadOptions } from './src/data/index.js';
export { gather, slice, type Dataset, type Splits } from './src/data/dataset.js';
export { BatchSampler, type SamplerState } from './src/data/sampler.js';
export { circles as makeCircles, spirals as makeSpirals, syntheticSplits } from './src/data/synthetic.js';
export { loadMnist, loadFashionMnist } from './src/data/mnist.js';
export { loadCifar10 } from './src/data/cifar10.js';
export { loadTinyImagenet } from './src/data/tinyImagenet.js';
export { MissingDataError } from './src/data/files.js';
export { TASKS, TASK_IDS, findTask, loadTask, type Task, type TaskDefaults } from './src/tasks/index.js';

// ── Configs: io-ts codecs, the JSON form of a pipeline ──────────────────────────────────
export { RunConfig, OptimizerConfig, type HandDesignedConfig } from './src/config/run.js';
export { buildOptimizer } from './src/config/build.js';
export { DecodeError, decodeWith, parseJson } from './src/codec/decode.js';
/** Decodes a run config (the JSON of `lgl2o run --config`); throws a `DecodeError` naming the field. */
export const decodeRunConfig = (json: unknown, source = 'config'): RunConfig => orThrow(decodeWith(RunConfig, json, source));

// ── Verification of the convergence claims (theory mode) ────────────────────────────────
export { checkTheoryCase, theoryProblem, type TheoryCase, type TheoryOptions, type Violation, type CaseSummary, type Claim } from './src/verify/theory.js';
export {
  verifyTheory,
  theoryCases,
  theoryHolds,
  TheoryViolation,
  DEFAULT_RANGES,
  type VerifyOptions,
  type VerifyReport,
  type CaseRanges,
} from './src/verify/property.js';
export { claimsFor, parseClaims, CHECKABLE_CLAIMS, type CheckedClaim, type ClaimChoice, type FallbackName } from './src/verify/claims.js';
export type { GuardView } from './src/verify/guardClaim.js';

// ── Streams: sources, the train operator, sinks ─────────────────────────────────────────
export { trainOptimizee as train, type Optimizee, type TrainOptimizeeOptions as TrainOptions } from './streams/optimizee.js';
export { DivergenceError, SourceEndedError, type Evaluation, type SourceEnd } from './streams/train.js';
export type { StepEvent } from './src/runs/events.js';
export { batches$, pulled, type BatchStreamOptions } from './streams/source.js';
export { dataset, mnist, fashionMnist, circles, spirals, type DatasetStreams, type SplitStreamOptions } from './streams/datasets.js';
export {
  LIVE_LIMITS,
  LiveIdleError,
  liveSource,
  LiveInputError,
  LiveRecordError,
  type LiveSpec,
  type LiveOptions,
  type LiveSource,
  type LiveStats,
} from './streams/live.js';
export { ndjsonSink } from './streams/ndjson.js';
export { progressBar, type ProgressOptions } from './streams/progress.js';
export { InputEndedError, InterruptedError, runJob, type RunJobOptions, type RunSummary } from './jobs/runJob.js';
export { lockDir, LockError, type DirLock, type LockHolder } from './jobs/dirLock.js';
export { UnsafePathError, WriteError } from './jobs/files.js';
