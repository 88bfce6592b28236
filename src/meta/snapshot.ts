import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { DecodeError, boundedNumber, decodeWith, strictObject, strictShape } from '../codec/decode.js';
import { decodeState, encodeState, materializeState, stateProblems } from '../tensor/serialize.js';
import { disposeAll } from '../tensor/state.js';
import { encodeCheckpoint, loadLstmCheckpoint, type LstmCheckpoint } from '../l2o/weightsFile.js';
import type { MetaOptState } from './window.js';
import { packWeights } from './window.js';
import type { MetaTrainSettings, TrainerPosition } from './trainer.js';
import { flattenWeights, unflattenWeights } from '../l2o/weights.js';

/**
 * Meta-training checkpoints are ordinary learned-optimizer checkpoints (checkpoint.ts) whose
 * `meta` holds the provenance (`metaTraining`: settings, meta-step, evaluation, wall time) and,
 * in DIR/last.json, what a resumed run needs (`resume`: position, RNG and sampler states, and
 * Adam's moments bit for bit). The weights are float32 values written exactly.
 */

const count = (name: string) => boundedNumber(name, 0, Number.MAX_SAFE_INTEGER, true);
const word = boundedNumber('rng word', -(2 ** 31), 2 ** 32 - 1, true);
const RngStateCodec = t.tuple([word, word, word, word]);

export const MetaTrainSettingsCodec = strictShape(
  {
    task: t.string,
    metaSteps: count('metaSteps'),
    rollout: count('rollout'),
    truncation: count('truncation'),
    metaLr: boundedNumber('metaLr', 0, 10),
    clip: boundedNumber('clip', 0, Number.MAX_VALUE),
    lossKind: t.keyof({ window: null, final: null }),
    backward: t.keyof({ fused: null, autodiff: null }),
    seed: count('seed'),
    batchSize: count('batchSize'),
    evalEvery: count('evalEvery'),
    evalEpisodes: count('evalEpisodes'),
    evalSteps: count('evalSteps'),
    curriculum: t.array(strictObject({ from: count('from'), rollout: count('rollout') }, 'CurriculumStage')),
    architecture: strictObject(
      { hidden: count('hidden'), layers: count('layers'), preprocP: boundedNumber('preprocP', 0.001, 100), outScale: boundedNumber('outScale', 0, 1e6) },
      'Architecture',
    ),
    init: t.union([t.string, t.null]),
  },
  { logLoss: t.boolean },
  'MetaTrainSettings',
);

const PositionCodec = strictObject(
  {
    metaStep: count('metaStep'),
    episode: count('episode'),
    wallMs: boundedNumber('wallMs', 0, Number.MAX_VALUE),
    initRng: RngStateCodec,
    sampler: strictObject({ rng: RngStateCodec, epoch: count('epoch'), position: count('position'), batches: count('batches') }, 'SamplerState'),
    best: t.union([t.null, strictObject({ metaStep: count('metaStep'), evalLoss: t.number }, 'Best')]),
    nextEval: count('nextEval'),
  },
  'TrainerPosition',
);

const ResumeMetaCodec = t.type({
  metaTraining: t.intersection([t.type({ settings: t.unknown }), t.partial({ command: t.string, resumedWith: t.array(t.string) })]),
  resume: t.type({ position: t.unknown, adam: t.unknown }),
});

/** Provenance written with every meta-training checkpoint. */
export interface Provenance {
  /** The command that started the run. */
  readonly command: string;
  /** The commands that resumed it, in order. */
  readonly resumedWith: readonly string[];
  readonly backend: string;
  readonly versions: Record<string, string>;
}

/** A checkpoint of the trainer's current weights; with `resume`, also what resuming needs. */
export function metaCheckpointJson(
  settings: MetaTrainSettings,
  weights: readonly tf.Tensor[],
  info: { metaStep: number; wallMs: number; evalLoss: number | null; provenance: Provenance },
  resume?: { position: TrainerPosition; opt: MetaOptState },
): unknown {
  const ck: LstmCheckpoint = {
    architecture: settings.architecture,
    weights: unflattenWeights(settings.architecture, weights),
    meta: {
      producedBy: 'lgl2o meta-train',
      metaTraining: {
        settings,
        metaStep: info.metaStep,
        wallSeconds: Math.round(info.wallMs / 100) / 10,
        evalLoss: info.evalLoss,
        ...info.provenance,
        savedAt: new Date().toISOString(),
      },
      ...(resume ? { resume: { position: resume.position, adam: encodeState({ t: resume.opt.adam.t, m: resume.opt.adam.m, v: resume.opt.adam.v }) } } : {}),
    },
  };
  return encodeCheckpoint(ck);
}

export interface ResumePoint {
  readonly settings: MetaTrainSettings;
  /** The run's command and earlier resumes, as last.json records them (absent in older files). */
  readonly history: { readonly command?: string; readonly resumedWith: readonly string[] };
  readonly position: TrainerPosition;
  /** The meta-optimizer state: weights and Adam moments (the caller owns the tensors). */
  readonly opt: MetaOptState;
}

/** Reads DIR/last.json back into settings, position and meta-optimizer state. */
export function loadResumePoint(path: string): E.Either<DecodeError, ResumePoint> {
  return pipe(
    loadLstmCheckpoint(path),
    E.chain((ck) => {
      const release = () => disposeAll(flattenWeights(ck.weights));
      const decoded = pipe(
        decodeWith(ResumeMetaCodec, ck.meta, `${path} (meta)`),
        E.chain((meta) =>
          pipe(
            E.Do,
            E.apS('settings', decodeWith(MetaTrainSettingsCodec, meta.metaTraining.settings, `${path} (meta.metaTraining.settings)`)),
            E.apS('position', decodeWith(PositionCodec, meta.resume.position, `${path} (meta.resume.position)`)),
            E.apS('adam', decodeState(meta.resume.adam, path, 'meta.resume.adam')),
            E.apS(
              'history',
              E.right({
                ...(meta.metaTraining.command !== undefined ? { command: meta.metaTraining.command } : {}),
                resumedWith: meta.metaTraining.resumedWith ?? [],
              }),
            ),
          ),
        ),
        E.chain(({ settings, position, adam, history }) => {
          const weights = packWeights(flattenWeights(ck.weights));
          const template = { t: 0, m: weights, v: weights };
          const problems = stateProblems(template, adam, 'meta.resume.adam');
          if (problems.length > 0) {
            weights.dispose();
            return E.left(new DecodeError(path, problems));
          }
          const state = materializeState(adam);
          if (state === null || typeof state !== 'object' || Array.isArray(state) || state instanceof tf.Tensor) {
            weights.dispose();
            return E.left(new DecodeError(path, ['meta.resume.adam: expected a record']));
          }
          const { t: step, m, v } = state as { t: unknown; m: unknown; v: unknown };
          if (typeof step !== 'number' || !(m instanceof tf.Tensor) || !(v instanceof tf.Tensor)) {
            disposeAll([weights, state]);
            return E.left(new DecodeError(path, ['meta.resume.adam: expected {t, m, v}']));
          }
          const opt: MetaOptState = { weights, adam: { t: step, m: m as tf.Tensor1D, v: v as tf.Tensor1D } };
          return E.right({ settings, position, opt, history });
        }),
      );
      release();
      return decoded;
    }),
  );
}
