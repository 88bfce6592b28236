import * as t from 'io-ts';
import { boundedNumber, strictObject, strictShape, taggedUnion } from '../codec/decode.js';

const positiveInt = (name: string) => boundedNumber(name, 1, Number.MAX_SAFE_INTEGER, true);
const positive = (name: string) => boundedNumber(name, Number.MIN_VALUE, 1e9);

/** SGD with the decaying schedule η_t = lr (1 + t/τ)^(−1/p); unset fields take the task's defaults (docs/algorithms.md §1). */
export const SgdConfig = strictShape({ type: t.literal('sgd') }, { lr: positive('lr'), tau: positive('tau'), power: positive('power') }, 'SgdConfig');
export const MomentumConfig = strictShape(
  { type: t.literal('momentum') },
  { lr: positive('lr'), tau: positive('tau'), power: positive('power'), beta: boundedNumber('beta', 0, 0.999999) },
  'MomentumConfig',
);
export const AdamConfig = strictShape({ type: t.literal('adam') }, { lr: positive('lr') }, 'AdamConfig');
/** The learned optimizer: a shipped name (`lstm`, `feature-mlp`, `default`; src/l2o/shipped.ts), a checkpoint path or `random:SEED`. */
export const L2OConfig = strictShape({ type: t.literal('l2o') }, { checkpoint: t.string }, 'L2OConfig');
type HandDesigned = t.TypeOf<typeof SgdConfig> | t.TypeOf<typeof MomentumConfig> | t.TypeOf<typeof AdamConfig>;
export const HandDesignedConfig = taggedUnion<HandDesigned>({ sgd: SgdConfig, momentum: MomentumConfig, adam: AdamConfig }, 'HandDesignedConfig');

export const LossGuardConfig = strictShape(
  { type: t.literal('lgl2o') },
  {
    learned: L2OConfig,
    fallback: HandDesignedConfig,
    k: positiveInt('k'),
    m: positiveInt('m'),
    anchor: t.boolean,
    decision: t.keyof({ strict: null, paired: null }),
    alpha: boundedNumber('alpha', 1e-9, 0.999999),
    z: boundedNumber('z', 0, 100),
    statePolicy: t.keyof({ keep: null, reset: null }),
    adaptive: strictObject({ growth: boundedNumber('growth', 1.000001, 100), maxK: positiveInt('maxK'), shrink: t.boolean }, 'Adaptive'),
    backoff: boundedNumber('backoff', 0, 30, true),
  },
  'LossGuardConfig',
);
export const SafeguardConfig = strictShape(
  { type: t.literal('gl2o') },
  {
    learned: L2OConfig,
    fallback: HandDesignedConfig,
    delta: boundedNumber('delta', 0, 0.999999),
    theta: boundedNumber('theta', 1e-9, 1),
    sequence: t.keyof({ GS: null, AA: null, EMA: null, RT: null, RM: null }),
  },
  'SafeguardConfig',
);
export type OptimizerConfig = HandDesigned | t.TypeOf<typeof L2OConfig> | t.TypeOf<typeof LossGuardConfig> | t.TypeOf<typeof SafeguardConfig>;
export const OptimizerConfig = taggedUnion<OptimizerConfig>(
  { sgd: SgdConfig, momentum: MomentumConfig, adam: AdamConfig, l2o: L2OConfig, lgl2o: LossGuardConfig, gl2o: SafeguardConfig },
  'OptimizerConfig',
);
export type HandDesignedConfig = HandDesigned;
export type L2OConfig = t.TypeOf<typeof L2OConfig>;

/**
 * A live feed instead of a task's dataset: `stdin`, `file:PATH` or `tcp:PORT`, with NDJSON
 * records {"x": [features numbers], "y": label in [0, classes)}; trains the task `mlp`.
 * `idleTimeout`: seconds without a complete line before the feed counts as stalled (default
 * 600, 0 waits forever).
 */
export const LiveInputConfig = strictShape(
  { live: t.string, features: positiveInt('features'), classes: boundedNumber('classes', 2, 1_000_000, true) },
  { strict: t.boolean, idleTimeout: boundedNumber('idleTimeout', 0, 1e9) },
  'LiveInputConfig',
);
export type LiveInputConfig = t.TypeOf<typeof LiveInputConfig>;

/** A whole run: what `lgl2o run --config FILE` reads and what `run.json` records. */
export const RunConfig = strictShape(
  { task: t.string, optimizer: OptimizerConfig, steps: positiveInt('steps') },
  {
    seed: boundedNumber('seed', 0, 2 ** 32 - 1, true),
    batchSize: positiveInt('batchSize'),
    evalEvery: positiveInt('evalEvery'),
    dataDir: t.string,
    input: LiveInputConfig,
    /** Training loss on a fixed subset of `size` training examples at the given steps (experiments' curves). */
    trainEval: strictObject({ steps: t.array(positiveInt('trainEval.steps')), size: positiveInt('trainEval.size') }, 'TrainEval'),
  },
  'RunConfig',
);
export type RunConfig = t.TypeOf<typeof RunConfig>;
