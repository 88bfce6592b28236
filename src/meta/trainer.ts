import * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import { BatchSampler, type SamplerState } from '../data/sampler.js';
import { disposeTensorBatch, toTensorBatch } from '../optimizee/tensorBatch.js';
import type { Objective } from '../optimizee/objective.js';
import { Rng, type RngState } from '../tensor/rng.js';
import { disposeAll } from '../tensor/state.js';
import { l2o } from '../l2o/lstm.js';
import {
  disposeWindowStart,
  episodeStart,
  initMetaOpt,
  metaStep,
  packWeights,
  unpackWeights,
  type BackwardKind,
  type MetaLossKind,
  type MetaOptState,
  type WindowStart,
} from './window.js';
import { flattenWeights, randomWeights, unflattenWeights, type L2OArchitecture } from '../l2o/weights.js';

/** From meta-step `from` on, episodes have `rollout` steps (a rollout-length curriculum). */
export interface CurriculumStage {
  readonly from: number;
  readonly rollout: number;
}

/** Everything that defines a meta-training run (saved with its checkpoints). */
export interface MetaTrainSettings {
  readonly task: string;
  readonly metaSteps: number;
  /** Optimizer steps per episode before the curriculum changes it. */
  readonly rollout: number;
  /** Steps per truncated-BPTT window: one meta-step each. */
  readonly truncation: number;
  readonly metaLr: number;
  /** Global-norm clip of the meta-gradient (0: none). */
  readonly clip: number;
  readonly lossKind: MetaLossKind;
  /** Log terms in the meta-loss (absent: false; not in the spec). */
  readonly logLoss?: boolean;
  readonly backward: BackwardKind;
  readonly seed: number;
  readonly batchSize: number;
  readonly evalEvery: number;
  readonly evalEpisodes: number;
  readonly evalSteps: number;
  readonly curriculum: readonly CurriculumStage[];
  readonly architecture: L2OArchitecture;
  /** The checkpoint the weights started from (null: random PyTorch-style initialisation). */
  readonly init: string | null;
}

/** One line of meta.ndjson. */
export interface MetaEvent {
  readonly metaStep: number;
  readonly episode: number;
  /** Window index inside its episode. */
  readonly window: number;
  readonly rollout: number;
  readonly metaLoss: number;
  /** The meta-loss per loss term (comparable across settings). */
  readonly meanLoss: number;
  readonly gradNorm: number;
  /** False when a non-finite meta-gradient was skipped. */
  readonly updated: boolean;
  readonly wallMs: number;
  readonly evalLoss?: number;
  readonly evalFinalLoss?: number;
  /** True when this evaluation is the best so far (best.json was replaced). */
  readonly best?: boolean;
}

/** Seeds of the held-out evaluation episodes: fixed, so every run and checkpoint is scored alike. */
export const EVAL_SEED = 900_001;
/** Offset of the seed of the learned optimizer's random initial weights from the run's seed. */
const L2O_SEED_OFFSET = 50_021;

export interface EvalResult {
  /** Mean over episodes of the mean training loss over the episode's steps. */
  readonly loss: number;
  /** Mean over episodes of the mean loss over the last tenth of the steps. */
  readonly finalLoss: number;
}

/**
 * Runs the learned optimizer (the inference `l2o`, as users run it) from fixed initial points on
 * batches of `data`, and scores it by the mean batch loss. A non-finite loss scores Infinity.
 */
export function evaluateL2O(
  objective: Objective,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  data: Dataset,
  opts: { episodes: number; steps: number; batchSize: number },
): EvalResult {
  const opt = l2o(unflattenWeights(arch, weights), arch);
  let total = 0;
  let totalFinal = 0;
  const tail = Math.max(1, Math.floor(opts.steps / 10));
  for (let e = 0; e < opts.episodes; e++) {
    const sampler = new BatchSampler(data, opts.batchSize, EVAL_SEED + e);
    let x = objective.init(Rng.seeded(EVAL_SEED + e));
    let state = opt.init(x);
    let sum = 0;
    let sumFinal = 0;
    for (let t = 0; t < opts.steps; t++) {
      const batch = toTensorBatch([sampler.next()]);
      const { loss, grad } = objective.lossAndGrad(x, batch);
      disposeTensorBatch(batch);
      const value = loss.dataSync()[0]!;
      loss.dispose();
      if (!Number.isFinite(value)) {
        sum = Infinity;
        sumFinal = Infinity;
        grad.dispose();
        break;
      }
      sum += value;
      if (t >= opts.steps - tail) sumFinal += value;
      const [x1, s1] = opt.step(x, grad, state);
      disposeAll([grad, x, state]);
      x = x1;
      state = s1;
    }
    disposeAll([x, state]);
    total += sum / opts.steps;
    totalFinal += sumFinal / tail;
  }
  return { loss: total / opts.episodes, finalLoss: totalFinal / opts.episodes };
}

/** Where a meta-training run stands between episodes: with the weights, all it needs to resume. */
export interface TrainerPosition {
  readonly metaStep: number;
  readonly episode: number;
  readonly wallMs: number;
  readonly initRng: RngState;
  readonly sampler: SamplerState;
  readonly best: { readonly metaStep: number; readonly evalLoss: number } | null;
  readonly nextEval: number;
}

export function rolloutAt(settings: MetaTrainSettings, metaStep: number): number {
  let rollout = settings.rollout;
  for (const stage of settings.curriculum) if (metaStep >= stage.from) rollout = stage.rollout;
  return rollout;
}

/**
 * The meta-training loop's state machine (pure core, no I/O): episodes from fresh optimizee
 * initialisations, split into truncation windows, one meta-step per window; an evaluation
 * at the first episode boundary after every `evalEvery` meta-steps. It owns its tensors.
 */
export class MetaTrainer {
  private opt: MetaOptState;
  private start: WindowStart | undefined;
  private window = 0;
  private rollout: number;
  private readonly initRng: Rng;
  private readonly sampler: BatchSampler;
  private position: Omit<TrainerPosition, 'initRng' | 'sampler'>;
  private readonly clock0: number;

  constructor(
    private readonly objective: Objective,
    private readonly data: { readonly train: Dataset; readonly evaluation: Dataset },
    readonly settings: MetaTrainSettings,
    from: { readonly opt: MetaOptState; readonly position?: TrainerPosition },
  ) {
    this.opt = from.opt;
    const seeds = Rng.seeded(settings.seed);
    this.initRng = seeds.fork();
    this.sampler = new BatchSampler(data.train, settings.batchSize, seeds.nextUint32());
    const p = from.position;
    if (p !== undefined) {
      this.initRng = new Rng(p.initRng);
      this.sampler.restore(p.sampler);
    }
    this.position = p ?? { metaStep: 0, episode: 0, wallMs: 0, best: null, nextEval: settings.evalEvery };
    this.rollout = rolloutAt(settings, this.position.metaStep);
    this.clock0 = performance.now() - this.position.wallMs;
  }

  /** A fresh meta-optimizer state at `weights` (a packed vector, copied). */
  static freshOpt(weights: tf.Tensor1D): MetaOptState {
    return initMetaOpt(weights);
  }

  /** The learned optimizer's initial weights for a run without `init`: PyTorch-style, from the seed. */
  static randomInitialWeights(settings: MetaTrainSettings): tf.Tensor1D {
    const list = flattenWeights(randomWeights(settings.architecture, Rng.seeded(settings.seed + L2O_SEED_OFFSET)));
    const flat = packWeights(list);
    disposeAll(list);
    return flat;
  }

  get metaStep(): number {
    return this.position.metaStep;
  }

  get done(): boolean {
    return this.position.metaStep >= this.settings.metaSteps;
  }

  /** Between episodes (the only points a run saves and resumes at). */
  get atEpisodeBoundary(): boolean {
    return this.start === undefined;
  }

  get best(): TrainerPosition['best'] {
    return this.position.best;
  }

  /** One meta-step; at an episode's end, also the evaluation when one is due. */
  step(): MetaEvent {
    const s = this.settings;
    if (this.start === undefined) {
      this.rollout = rolloutAt(s, this.position.metaStep);
      const x0 = this.objective.init(this.initRng);
      this.start = episodeStart(s.architecture, x0);
      x0.dispose();
      this.window = 0;
    }
    const count = s.lossKind === 'final' ? s.truncation + 1 : s.truncation;
    const batches = Array.from({ length: count }, () => toTensorBatch([this.sampler.next()]));
    const result = metaStep(this.objective, s.architecture, this.opt, this.start, batches, {
      metaLr: s.metaLr,
      clip: s.clip,
      lossKind: s.lossKind,
      logLoss: s.logLoss ?? false,
      backward: s.backward,
    });
    batches.forEach(disposeTensorBatch);
    disposeAll(this.opt);
    this.opt = result.next;
    disposeWindowStart(this.start);
    this.start = result.end;
    const windowIndex = this.window++;
    const metaStepNow = this.position.metaStep + 1;
    const lastStep = metaStepNow >= s.metaSteps;
    const diverged = !result.losses.every(Number.isFinite) || !Number.isFinite(result.metaLoss);
    // A run ends at an episode boundary so that its last checkpoint can be resumed (cutting the
    // episode short when the run's length is not a whole number of episodes).
    if (diverged || lastStep || this.window >= this.rollout / s.truncation) {
      disposeWindowStart(this.start);
      this.start = undefined;
    }
    const terms = s.lossKind === 'final' ? s.truncation + 1 : s.truncation;
    let event: MetaEvent = {
      metaStep: metaStepNow,
      episode: this.position.episode,
      window: windowIndex,
      rollout: this.rollout,
      metaLoss: result.metaLoss,
      meanLoss: result.metaLoss / terms,
      gradNorm: result.gradNorm,
      updated: result.updated,
      wallMs: 0,
    };
    this.position = { ...this.position, metaStep: metaStepNow, episode: this.position.episode + (this.start === undefined ? 1 : 0) };
    // Evaluations fall on the schedule only (not at a run's end), so that a run extended with
    // --resume --meta-steps evaluates where a longer run would have.
    if (this.start === undefined && metaStepNow >= this.position.nextEval) {
      const evaluation = this.evaluate();
      const best = this.position.best === null || evaluation.loss < this.position.best.evalLoss;
      let nextEval = this.position.nextEval;
      while (nextEval <= metaStepNow) nextEval += s.evalEvery;
      this.position = { ...this.position, nextEval, best: best ? { metaStep: metaStepNow, evalLoss: evaluation.loss } : this.position.best };
      event = { ...event, evalLoss: evaluation.loss, evalFinalLoss: evaluation.finalLoss, best };
    }
    this.position = { ...this.position, wallMs: performance.now() - this.clock0 };
    return { ...event, wallMs: this.position.wallMs };
  }

  /** Held-out evaluation of the current weights. */
  evaluate(): EvalResult {
    const list = this.weights();
    try {
      const s = this.settings;
      return evaluateL2O(this.objective, s.architecture, list, this.data.evaluation, { episodes: s.evalEpisodes, steps: s.evalSteps, batchSize: s.batchSize });
    } finally {
      disposeAll(list);
    }
  }

  /** The current weights in `weightShapes` order (fresh tensors, the caller owns them). */
  weights(): tf.Tensor[] {
    return unpackWeights(this.settings.architecture, this.opt.weights);
  }

  /** The meta-optimizer state (read it, don't keep it). */
  metaOpt(): MetaOptState {
    return this.opt;
  }

  /** The position to save; only meaningful between episodes. */
  savedPosition(): TrainerPosition {
    if (this.start !== undefined) throw new Error('MetaTrainer: a position is saved only between episodes');
    return { ...this.position, initRng: this.initRng.state(), sampler: this.sampler.state() };
  }

  dispose(): void {
    disposeAll(this.opt);
    if (this.start !== undefined) disposeWindowStart(this.start);
    this.start = undefined;
  }
}
