import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { decodeWith } from '../codec/decode.js';
import { decodeCheckpoint, disposeCheckpoint, encodeCheckpoint, isFeatureMlpCheckpoint, resolveCheckpoint, type L2OCheckpoint } from '../l2o/weightsFile.js';
import type { FeatureMlpOptState } from '../l2o/featureMlpOptimizer.js';
import { learnedOptimizer } from '../l2o/learned.js';
import type { L2OState } from '../l2o/lstm.js';
import type { AnyOptimizer } from '../optim/optimizer.js';
import { disposeAll, disposeReplaced, tidyState, type StateRecord } from '../tensor/state.js';

/** The config saved with a compiled model: the source's name and the weights themselves. */
const ConfigCodec = t.type({ name: t.string, checkpoint: t.unknown }, 'L2OOptimizerConfig');

/** A weight saved with the optimizer (the element type of `getWeights`). */
type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

const STATE_MARK = '/l2o_state/';

/** How one architecture's per-variable state is saved as named tensors and read back. */
interface StateLayout {
  /** The state's parts, by the name after `<variable>/l2o_state/` (tensors are the state's own or fresh scalars). */
  parts(state: StateRecord): Array<[string, tf.Tensor]>;
  /** The state from its saved parts (cloned), or an error naming the missing part. */
  restore(parts: ReadonlyMap<string, tf.Tensor>, variable: string): StateRecord;
  /** Coordinates the state is for. */
  rows(state: StateRecord): number;
}

const partOf = (parts: ReadonlyMap<string, tf.Tensor>, variable: string, key: string, rank: number): tf.Tensor => {
  const tensor = parts.get(key);
  if (tensor === undefined || tensor.rank !== rank) throw new Error(`L2OOptimizer.setWeights: ${variable}${STATE_MARK}${key} missing or not of rank ${rank}`);
  return tensor;
};

/** The LSTM's state: h and c of each layer, [size, hidden] (saved as h0, c0, h1, c1, …). */
const lstmLayout = (layers: number): StateLayout => ({
  parts: (state) => {
    const { h, c } = state as unknown as L2OState;
    return [...h.map((t, l): [string, tf.Tensor] => [`h${l}`, t]), ...c.map((t, l): [string, tf.Tensor] => [`c${l}`, t])];
  },
  restore: (parts, variable) => {
    const range = Array.from({ length: layers }, (_, l) => l);
    const take = (key: string) => partOf(parts, variable, key, 2).clone() as tf.Tensor2D;
    return { h: range.map((l) => take(`h${l}`)), c: range.map((l) => take(`c${l}`)) };
  },
  rows: (state) => (state as unknown as L2OState).h[0]!.shape[0],
});

/** The feature-MLP's state: moments m [K, size] and v [size], and its count and clock (as scalars). */
const featureMlpLayout: StateLayout = {
  parts: (state) => {
    const { m, v, vFast, count, clock } = state as FeatureMlpOptState;
    return [
      ['m', m],
      ['v', v],
      ...(vFast === undefined ? [] : [['vFast', vFast] as [string, tf.Tensor]]),
      ['count', tf.scalar(count)],
      ['clock', tf.scalar(clock)],
    ];
  },
  restore: (parts, variable) => {
    const number = (key: string) => {
      const value = partOf(parts, variable, key, 0).dataSync()[0]!;
      if (!(Number.isInteger(value) && value >= 0))
        throw new Error(`L2OOptimizer.setWeights: ${variable}${STATE_MARK}${key} is ${value}, expected a step count`);
      return value;
    };
    const state: FeatureMlpOptState = {
      count: number('count'),
      clock: number('clock'),
      m: partOf(parts, variable, 'm', 2).clone() as tf.Tensor2D,
      v: partOf(parts, variable, 'v', 1).clone() as tf.Tensor1D,
      ...(parts.has('vFast') ? { vFast: partOf(parts, variable, 'vFast', 1).clone() as tf.Tensor1D } : {}),
    };
    return state;
  },
  rows: (state) => (state as FeatureMlpOptState).v.shape[0],
};

/** Optimizer weights `<variable>/l2o_state/<part>` of one variable, grouped in saved order. */
function groupStates(weights: readonly NamedTensor[], layout: StateLayout): Array<{ name: string; state: StateRecord }> {
  const groups = new Map<string, Map<string, tf.Tensor>>();
  for (const { name, tensor } of weights) {
    const at = name.lastIndexOf(STATE_MARK);
    if (at < 0) throw new Error(`L2OOptimizer.setWeights: unexpected weight ${name} (expected <variable>${STATE_MARK}<part> …)`);
    const variable = name.slice(0, at);
    if (!groups.has(variable)) groups.set(variable, new Map());
    groups.get(variable)!.set(name.slice(at + STATE_MARK.length), tensor);
  }
  return [...groups].map(([name, parts]) => ({ name, state: layout.restore(parts, name) }));
}

/**
 * The learned optimizer as a `tf.Optimizer`, for `model.compile({ optimizer })` and `model.fit`.
 * Either architecture runs coordinate-wise, so each variable keeps its own state (the LSTM's
 * hidden and cell state, [size, hidden] per layer; the feature-MLP's moments, count and clock)
 * and an update equals that of the same step on the flat parameter vector. The state travels
 * with `model.save(…, { includeOptimizer: true })`; the config embeds the learned optimizer's
 * weights, so a saved model loads anywhere lgl2o is imported.
 */
export class L2OOptimizer extends tf.Optimizer {
  static get className(): string {
    return 'L2OOptimizer';
  }

  private readonly learned: AnyOptimizer;
  private readonly layout: StateLayout;
  /** The learned optimizer's state per variable name; created at a variable's first gradient. */
  private states = new Map<string, StateRecord>();
  /** States restored by `setWeights`, matched to variables by name, else by position. */
  private restored: Array<{ name: string; state: StateRecord } | null> = [];

  constructor(
    readonly source: string,
    private readonly checkpoint: L2OCheckpoint,
  ) {
    super();
    this.learned = learnedOptimizer(checkpoint);
    this.layout = isFeatureMlpCheckpoint(checkpoint) ? featureMlpLayout : lstmLayout(checkpoint.architecture.layers);
  }

  private stateFor(name: string, position: number, variable: tf.Variable): StateRecord {
    const own = this.states.get(name);
    if (own !== undefined) return own;
    const byName = this.restored.findIndex((r) => r?.name === name);
    const at = byName >= 0 ? byName : position;
    const entry = this.restored[at];
    if (entry != null) {
      this.restored[at] = null;
      const rows = this.layout.rows(entry.state);
      if (rows !== variable.size) throw new Error(`L2OOptimizer: restored state ${entry.name} has ${rows} coordinates, variable ${name} has ${variable.size}`);
      return entry.state;
    }
    return this.learned.init(tf.tidy(() => variable.reshape([-1]) as tf.Tensor1D));
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: Array<[string, tf.Tensor | undefined]> = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.entries(variableGradients);
    entries.forEach(([name, grad], position) => {
      if (grad == null) return;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`L2OOptimizer: no variable named ${name}`);
      const state = this.stateFor(name, position, variable);
      // The learned step keeps its results (tidyState): the new point and the new state.
      const [next, nextState] = tidyState(() => this.learned.step(variable.reshape([-1]) as tf.Tensor1D, grad.reshape([-1]) as tf.Tensor1D, state));
      tf.tidy(() => variable.assign(next.reshape(variable.shape)));
      next.dispose();
      disposeReplaced(state, nextState);
      this.states.set(name, nextState);
    });
    this.incrementIterations();
  }

  override async getWeights(): Promise<NamedTensor[]> {
    const out: NamedTensor[] = [await this.saveIterations()];
    for (const [name, state] of this.states) for (const [key, tensor] of this.layout.parts(state)) out.push({ name: `${name}${STATE_MARK}${key}`, tensor });
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const restored = groupStates(rest, this.layout);
    this.disposeStates();
    this.restored = restored;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const checkpoint = encodeCheckpoint({ ...this.checkpoint, meta: {} }) as tf.serialization.ConfigDictValue;
    return { name: this.source, checkpoint };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const decoded = pipe(
      decodeWith(ConfigCodec, config, 'L2OOptimizer config'),
      E.chain((c) =>
        pipe(
          decodeCheckpoint(c.checkpoint, 'L2OOptimizer config.checkpoint'),
          E.map((ck) => [c.name, ck] as const),
        ),
      ),
    );
    if (E.isLeft(decoded)) throw decoded.left;
    const [name, checkpoint] = decoded.right;
    return new (cls as unknown as new (source: string, checkpoint: L2OCheckpoint) => T)(name, checkpoint);
  }

  private disposeStates(): void {
    for (const state of this.states.values()) disposeAll(state);
    for (const entry of this.restored) if (entry !== null) disposeAll(entry.state);
    this.states = new Map();
    this.restored = [];
  }

  override dispose(): void {
    this.disposeStates();
    disposeCheckpoint(this.checkpoint);
  }
}

tf.serialization.registerClass(L2OOptimizer);

/**
 * The learned optimizer for `model.compile({ optimizer: l2oOptimizer() })`: a shipped name
 * (`'lstm'`, `'feature-mlp'`, `'default'`), a checkpoint path, or `'random:SEED'`.
 * Throws a `DecodeError` naming the file and field when a checkpoint is unreadable.
 */
export function l2oOptimizer(source = 'default'): L2OOptimizer {
  const checkpoint = resolveCheckpoint(source);
  if (E.isLeft(checkpoint)) throw checkpoint.left;
  return new L2OOptimizer(source, checkpoint.right);
}
