import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { decodeWith } from '../codec/decode.js';
import { decodeCheckpoint, encodeCheckpoint, resolveCheckpoint, type L2OCheckpoint } from '../l2o/weightsFile.js';
import { l2o, type L2OState } from '../l2o/lstm.js';
import { disposeWeights } from '../l2o/weights.js';
import type { Optimizer } from '../optim/optimizer.js';
import { disposeAll, disposeReplaced, tidyState } from '../tensor/state.js';

/** The config saved with a compiled model: the source's name and the weights themselves. */
const ConfigCodec = t.type({ name: t.string, checkpoint: t.unknown }, 'L2OOptimizerConfig');

/** A weight saved with the optimizer (the element type of `getWeights`). */
type NamedTensor = Awaited<ReturnType<tf.Optimizer['getWeights']>>[number];

const STATE_MARK = '/l2o_state/';

/** Optimizer weights `<variable>/l2o_state/h0`, … of one variable, grouped in saved order. */
function groupStates(weights: readonly NamedTensor[], layers: number): Array<{ name: string; state: L2OState }> {
  const groups = new Map<string, Map<string, tf.Tensor>>();
  for (const { name, tensor } of weights) {
    const at = name.lastIndexOf(STATE_MARK);
    if (at < 0) throw new Error(`L2OOptimizer.setWeights: unexpected weight ${name} (expected <variable>${STATE_MARK}h0 …)`);
    const variable = name.slice(0, at);
    if (!groups.has(variable)) groups.set(variable, new Map());
    groups.get(variable)!.set(name.slice(at + STATE_MARK.length), tensor);
  }
  return [...groups].map(([name, parts]) => {
    const take = (key: string): tf.Tensor2D => {
      const tensor = parts.get(key);
      if (tensor === undefined || tensor.rank !== 2) throw new Error(`L2OOptimizer.setWeights: ${name}${STATE_MARK}${key} missing or not of rank 2`);
      return tensor.clone() as tf.Tensor2D;
    };
    const range = Array.from({ length: layers }, (_, l) => l);
    return { name, state: { h: range.map((l) => take(`h${l}`)), c: range.map((l) => take(`c${l}`)) } };
  });
}

/**
 * The learned optimizer as a `tf.Optimizer`, for `model.compile({ optimizer })` and `model.fit`.
 * The LSTM runs coordinate-wise, so each variable keeps its own hidden and cell state
 * ([size, hidden] per layer) and an update equals that of the same step on the flat
 * parameter vector. The state travels with `model.save(…, { includeOptimizer: true })`;
 * the config embeds the LSTM's weights, so a saved model loads anywhere lgl2o is imported.
 */
export class L2OOptimizer extends tf.Optimizer {
  static get className(): string {
    return 'L2OOptimizer';
  }

  private readonly learned: Optimizer<L2OState>;
  /** LSTM state per variable name; created at a variable's first gradient. */
  private states = new Map<string, L2OState>();
  /** States restored by `setWeights`, matched to variables by name, else by position. */
  private restored: Array<{ name: string; state: L2OState } | null> = [];

  constructor(
    readonly source: string,
    private readonly checkpoint: L2OCheckpoint,
  ) {
    super();
    this.learned = l2o(checkpoint.weights, checkpoint.architecture);
  }

  private stateFor(name: string, position: number, variable: tf.Variable): L2OState {
    const own = this.states.get(name);
    if (own !== undefined) return own;
    const byName = this.restored.findIndex((r) => r?.name === name);
    const at = byName >= 0 ? byName : position;
    const entry = this.restored[at];
    if (entry != null) {
      this.restored[at] = null;
      const rows = entry.state.h[0]!.shape[0];
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
    for (const [name, state] of this.states) {
      state.h.forEach((tensor, l) => out.push({ name: `${name}${STATE_MARK}h${l}`, tensor }));
      state.c.forEach((tensor, l) => out.push({ name: `${name}${STATE_MARK}c${l}`, tensor }));
    }
    return out;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const restored = groupStates(rest, this.checkpoint.architecture.layers);
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
    disposeWeights(this.checkpoint.weights);
  }
}

tf.serialization.registerClass(L2OOptimizer);

/**
 * The learned optimizer for `model.compile({ optimizer: l2oOptimizer() })`: `'default'` (the
 * shipped checkpoint, meta-trained on mlp-mnist), a checkpoint path, or `'random:SEED'`.
 * Throws a `DecodeError` naming the file and field when a checkpoint is unreadable.
 */
export function l2oOptimizer(source = 'default'): L2OOptimizer {
  const checkpoint = resolveCheckpoint(source);
  if (E.isLeft(checkpoint)) throw checkpoint.left;
  return new L2OOptimizer(source, checkpoint.right);
}
