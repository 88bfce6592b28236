import * as tf from '@tensorflow/tfjs';
import type { Objective, TensorBatch } from '../optimizee/objective.js';
import { adam, type AdamState } from '../optim/adam.js';
import { registerMatMulGradient } from '../tensor/matMulGrad.js';
import { disposeAll, tidyState } from '../tensor/state.js';
import { installFastSlice } from '../tensor/kernels/fastSlice.js';
import {
  addPacked,
  backwardFM,
  disposeCache,
  forwardFM,
  fromFM,
  packFM,
  packedTensors,
  toFM,
  unpackGradFM,
  zeroFMState,
  type FMState,
  type PackedWeights,
  type StepCache,
} from './lstmBackprop.js';
import { activeKernels } from '../engine/instance.js';
import { fusedLstmStep, fusedSupports, packLstm, type PackedLstm } from '../l2o/fastLstm.js';
import { lstmStep, type L2OState } from '../l2o/lstm.js';
import { unflattenWeights, weightShapes, type L2OArchitecture } from '../l2o/weights.js';
import { fusedLstmBackward, unpackLstmGrad } from './fastLstmBackward.js';
import { openSharedWindow } from './sharedWindow.js';

/**
 * Which losses the meta-loss sums over a window of T steps from x_0 (docs/algorithms.md §3):
 * - `window`: Σ_{t<T} f_{B_t}(x_t), the losses at which the window's T gradients are taken
 *   (the spec; f(x_0) is a constant and the last update is seen only by the next window);
 * - `final`: the same plus f_{B_T}(x_T) on one more batch, so the last update counts too.
 */
export type MetaLossKind = 'window' | 'final';

/**
 * How the backward pass runs: `fused` is the hand-written backward: on the wasm backend the
 * fused kernels (forward `lstm_step`, backward `lstm_backward` in native/l2o_kernels.c), else
 * the feature-major LSTM of tfjs ops (lstmBackprop.ts, no tape); `autodiff` recomputes each step
 * of `lstmStep` on a tf.grads tape. Same numbers up to float32 rounding (tests check it).
 */
export type BackwardKind = 'fused' | 'autodiff';

/** Where an episode is between windows: the optimizee point and the LSTM state ([H, d] per layer). */
export interface WindowStart {
  readonly x: tf.Tensor1D;
  readonly lstm: FMState;
}

export interface WindowResult {
  /** The meta-loss of the window (sum of its terms: losses, or their logs). */
  readonly metaLoss: number;
  /** f_{B_t}(x_t) for t = 0..T−1 (the loss each step's gradient was taken at). */
  readonly losses: readonly number[];
  /** d metaLoss / d weights, one tensor per weight in `weightShapes` order. */
  readonly grads: readonly tf.Tensor[];
  /** x_T and the LSTM state after the window, for the next window (owned by the caller). */
  readonly end: WindowStart;
}

export interface WindowOptions {
  readonly lossKind?: MetaLossKind;
  /**
   * Sum log f instead of f (each term's gradient is g_t / f_t): every phase of an episode
   * counts by its relative progress, not by the size of its losses. Not in the spec.
   */
  readonly logLoss?: boolean;
  readonly backward?: BackwardKind;
}

/**
 * One truncated-BPTT window: T learned steps from `start` and the first-order meta-gradient.
 *
 * The optimizee gradients g_t = ∇f_{B_t}(x_t) enter the LSTM as constants, so the only paths
 * from the weights to the meta-loss run through x_{t+1} = x_t + s·u_t and the LSTM state.
 * The gradient of the loss term f_{B_t}(x_t) with respect to x_t is g_t itself, which the
 * forward pass already has: no optimizee op is differentiated twice. Reverse accumulation:
 * λ_T = w_T ∇f_{B_T}(x_T) (`final`) or 0, λ_t = λ_{t+1} + w_t g_t (w = 1, or 1/f for log
 * terms), and each step's weight gradient is the vector–Jacobian product of the LSTM step with
 * (λ_{t+1}, adjoint of the next state).
 * Needs T batches (T + 1 for `final`). `start` is not disposed.
 */
export function metaWindow(
  objective: Objective,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  start: WindowStart,
  batches: readonly TensorBatch[],
  opts: WindowOptions = {},
): WindowResult {
  const lossKind = opts.lossKind ?? 'window';
  const T = lossKind === 'final' ? batches.length - 1 : batches.length;
  if (T < 1) throw new RangeError(`metaWindow: needs at least ${lossKind === 'final' ? 2 : 1} batches, got ${batches.length}`);
  const fused = (opts.backward ?? 'fused') === 'fused';
  const run = !fused ? autodiffWindow : activeKernels() !== null && fusedSupports(arch) ? kernelWindow : fusedWindow;
  return run(objective, arch, weights, start, batches, T, { kind: lossKind, log: opts.logLoss ?? false });
}

/** The meta-loss terms: which losses (window, final) and whether their logs. */
interface Terms {
  readonly kind: MetaLossKind;
  readonly log: boolean;
}

/** The smallest loss a log term takes (a loss of exactly 0 would have no log). */
const LOG_FLOOR = 1e-12;
const termValue = (terms: Terms, f: number) => (terms.log ? Math.log(Math.max(f, LOG_FLOOR)) : f);
/** d term / d f: 1, or 1/f for a log term. */
const termWeight = (terms: Terms, f: number) => (terms.log ? 1 / Math.max(f, LOG_FLOOR) : 1);

/** λ + w·g as a fresh tensor (λ is disposed). */
function accumulate(dx: tf.Tensor1D, g: tf.Tensor1D, w: number): tf.Tensor1D {
  const next = tf.tidy(() => (w === 1 ? dx.add(g) : dx.add(g.mul(w))) as tf.Tensor1D);
  dx.dispose();
  return next;
}

/** The loss and gradient at x as a number and a tensor. */
function lossAndGradAt(objective: Objective, x: tf.Tensor1D, batch: TensorBatch): { loss: number; grad: tf.Tensor1D } {
  const { loss, grad } = objective.lossAndGrad(x, batch);
  const value = loss.dataSync()[0]!;
  loss.dispose();
  return { loss: value, grad };
}

/** w·g as a fresh tensor. */
const scaled = (g: tf.Tensor1D, w: number): tf.Tensor1D => tf.tidy(() => (w === 1 ? g.clone() : (g.mul(w) as tf.Tensor1D)));

/** The adjoint of x_T before the backward loop; without a final term, step T−1 is skipped. */
function initialAdjoint(
  objective: Objective,
  xT: tf.Tensor1D,
  batches: readonly TensorBatch[],
  T: number,
  gs: readonly tf.Tensor1D[],
  losses: readonly number[],
  terms: Terms,
) {
  if (terms.kind === 'final') {
    const { loss, grad } = lossAndGradAt(objective, xT, batches[T]!);
    const dx = scaled(grad, termWeight(terms, loss));
    grad.dispose();
    return { dx, last: T - 1, extra: termValue(terms, loss) };
  }
  // x_T is in no loss term, so step T−1 has a zero meta-gradient: λ_{T−1} = w_{T−1} g_{T−1}.
  return { dx: scaled(gs[T - 1]!, termWeight(terms, losses[T - 1]!)), last: T - 2, extra: 0 };
}

function windowMetaLoss(terms: Terms, losses: readonly number[], extra: number): number {
  return losses.reduce((a, f) => a + termValue(terms, f), 0) + extra;
}

/** What a window's learned optimizer does at step t: propose the update, then take λ_t (the adjoint of its update). */
interface WindowSteps {
  /** u_t from the gradient g_t (the skeleton adds it to x_t and disposes it). */
  forward(t: number, grad: tf.Tensor1D): tf.Tensor1D;
  /** Accumulate the weights' gradient at step t from λ_t (`dx`, the skeleton's) and g_t. */
  backward(t: number, dx: tf.Tensor1D, grad: tf.Tensor1D): void;
}

/**
 * The skeleton every window path shares: T optimizee steps x_{t+1} = x_t + u_t from x0, then the
 * adjoint sweep from the last step that matters down to step 0. Returns x_T (fresh) and the
 * losses; the learned optimizer's states and gradient stay with `steps`.
 */
function unrollWindow(
  objective: Objective,
  x0: tf.Tensor1D,
  batches: readonly TensorBatch[],
  T: number,
  terms: Terms,
  steps: WindowSteps,
): { xT: tf.Tensor1D; losses: number[]; metaLoss: number } {
  const xs: tf.Tensor1D[] = [x0];
  const gs: tf.Tensor1D[] = [];
  const losses: number[] = [];
  for (let t = 0; t < T; t++) {
    const { loss, grad } = lossAndGradAt(objective, xs[t]!, batches[t]!);
    losses.push(loss);
    gs.push(grad);
    const update = steps.forward(t, grad);
    xs.push(tf.tidy(() => xs[t]!.add(update) as tf.Tensor1D));
    update.dispose();
  }
  const { dx: dx0, last, extra } = initialAdjoint(objective, xs[T]!, batches, T, gs, losses, terms);
  let dx = dx0;
  for (let t = last; t >= 0; t--) {
    steps.backward(t, dx, gs[t]!);
    if (t > 0) dx = accumulate(dx, gs[t]!, termWeight(terms, losses[t]!));
  }
  disposeAll([dx, gs]);
  for (let t = 1; t < T; t++) xs[t]!.dispose();
  return { xT: xs[T]!, losses, metaLoss: windowMetaLoss(terms, losses, extra) };
}

function fusedWindow(
  objective: Objective,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  start: WindowStart,
  batches: readonly TensorBatch[],
  T: number,
  terms: Terms,
): WindowResult {
  installFastSlice();
  const p = packFM(arch, weights);
  const states: FMState[] = [start.lstm];
  const caches: StepCache[] = [];
  let dState = undefined as FMState | undefined;
  let acc = undefined as PackedWeights | undefined;
  const { xT, losses, metaLoss } = unrollWindow(objective, start.x, batches, T, terms, {
    forward: (t, grad) => {
      const { update, state, cache } = forwardFM(p, arch, grad, states[t]!);
      states.push(state);
      caches.push(cache);
      return update;
    },
    backward: (t, dx) => {
      const { grads, dPrev } = backwardFM(p, arch, caches[t]!, dx, dState, t > 0);
      if (acc === undefined) acc = grads;
      else {
        const sum = addPacked(acc, grads);
        disposeAll([packedTensors(acc), packedTensors(grads)]);
        acc = sum;
      }
      if (dState !== undefined) disposeAll(dState);
      dState = dPrev;
    },
  });
  const grads = acc === undefined ? weights.map((w) => tf.zerosLike(w)) : unpackGradFM(arch, acc);
  if (acc !== undefined) disposeAll(packedTensors(acc));
  disposeAll([dState, packedTensors(p)]);
  caches.forEach(disposeCache);
  for (let t = 1; t < T; t++) disposeAll(states[t]);
  return { metaLoss, losses, grads, end: { x: xT, lstm: states[T]! } };
}

let sharedWindows = true;

/** Off: kernel windows run on one thread on tfjs's heap, as before the two-thread windows (for benchmarks and tests). */
export function setSharedWindows(on: boolean): void {
  sharedWindows = on;
}

/**
 * The window on the fused wasm kernels: states [d, H] as the kernels keep them; the backward
 * recomputes the gates. On the shared memory of two threads (sharedWindow.ts) where it can
 * run, else on one thread on tfjs's heap.
 */
function kernelWindow(
  objective: Objective,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  start: WindowStart,
  batches: readonly TensorBatch[],
  T: number,
  terms: Terms,
): WindowResult {
  const packed = packLstm(unflattenWeights(arch, weights), arch);
  const first = fromFM(start.lstm);
  const shared = sharedWindows ? openSharedWindow(packed, first, T) : null;
  if (shared === null) return heapKernelWindow(objective, arch, packed, start.x, first, batches, T, terms);
  disposeAll(first);
  const { xT, losses, metaLoss } = unrollWindow(objective, start.x, batches, T, terms, {
    forward: (t, grad) => shared.forward(t, grad),
    backward: (t, dx) => shared.backward(t, dx, t > 0),
  });
  const grads = unpackLstmGrad(arch, shared.gradient());
  const endState = shared.state(T);
  const end = toFM(endState);
  disposeAll(endState);
  return { metaLoss, losses, grads, end: { x: xT, lstm: end } };
}

/** kernelWindow on one thread, on tfjs's heap (no shared memory or worker threads here). Disposes `first`. */
function heapKernelWindow(
  objective: Objective,
  arch: L2OArchitecture,
  packed: PackedLstm,
  x0: tf.Tensor1D,
  first: L2OState,
  batches: readonly TensorBatch[],
  T: number,
  terms: Terms,
): WindowResult {
  const states: L2OState[] = [first];
  let dState = undefined as L2OState | undefined;
  const dW = tf.zeros([packed.data.length]) as tf.Tensor1D;
  const { xT, losses, metaLoss } = unrollWindow(objective, x0, batches, T, terms, {
    forward: (t, grad) => {
      const step = fusedLstmStep(packed, grad, states[t]!);
      if (step === null) throw new Error('metaWindow: the fused LSTM kernel stopped accepting its own tensors');
      states.push(step.state);
      return step.update;
    },
    backward: (t, dx, grad) => {
      const inputs = { grads: grad, prev: states[t]!, next: states[t + 1]!, dUpdate: dx, dNext: dState };
      const back = fusedLstmBackward(packed, inputs, dW, t > 0);
      if (back === null) throw new Error('metaWindow: the fused LSTM backward kernel stopped accepting its own tensors');
      if (dState !== undefined) disposeAll(dState);
      dState = back.dPrev;
    },
  });
  const grads = unpackLstmGrad(arch, dW.dataSync() as Float32Array);
  const end = toFM(states[T]!);
  disposeAll([dState, dW, states]);
  return { metaLoss, losses, grads, end: { x: xT, lstm: end } };
}

const innerProduct = (a: tf.Tensor, b: tf.Tensor): tf.Scalar => a.mul(b).sum();

/** The reference path: `lstmStep` on a tape, one step at a time (checkpointing at step boundaries). */
function autodiffWindow(
  objective: Objective,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  start: WindowStart,
  batches: readonly TensorBatch[],
  T: number,
  terms: Terms,
): WindowResult {
  registerMatMulGradient();
  const w = unflattenWeights(arch, weights);
  const states: L2OState[] = [fromFM(start.lstm)];
  let dState = undefined as L2OState | undefined;
  let dW: tf.Tensor[] = weights.map((v) => tf.zerosLike(v));
  const n = weights.length;
  const L = arch.layers;
  const { xT, losses, metaLoss } = unrollWindow(objective, start.x, batches, T, terms, {
    forward: (t, grad) => {
      const { update, state } = tidyState(() => lstmStep(w, arch, grad, states[t]!));
      states.push(state);
      return update;
    },
    backward: (t, adjointX, grad) => {
      const withState = t > 0; // s_0 is a constant: its adjoint is not needed
      const prev = states[t]!;
      const cotangent = dState;
      // The vector–Jacobian product as the gradient of a scalar: ⟨λ, u⟩ + ⟨dh, h'⟩ + ⟨dc, c'⟩.
      const step = (...inputs: tf.Tensor[]): tf.Scalar => {
        const wt = unflattenWeights(arch, inputs.slice(0, n));
        const s: L2OState = withState ? { h: inputs.slice(n, n + L) as tf.Tensor2D[], c: inputs.slice(n + L) as tf.Tensor2D[] } : prev;
        const { update, state } = lstmStep(wt, arch, grad, s);
        let total = innerProduct(adjointX, update);
        if (cotangent !== undefined) {
          for (let l = 0; l < L; l++) total = total.add(innerProduct(cotangent.h[l]!, state.h[l]!)).add(innerProduct(cotangent.c[l]!, state.c[l]!));
        }
        return total;
      };
      const grads = tf.tidy(() => tf.grads(step)(withState ? [...weights, ...prev.h, ...prev.c] : [...weights]));
      const nextDW = dW.map((a, i) => a.add(grads[i]!));
      disposeAll([dW, grads.slice(0, n), dState]);
      dW = nextDW;
      dState = withState ? { h: grads.slice(n, n + L) as tf.Tensor2D[], c: grads.slice(n + L) as tf.Tensor2D[] } : undefined;
    },
  });
  const endState = toFM(states[T]!);
  disposeAll([dState, states]);
  return { metaLoss, losses, grads: dW, end: { x: xT, lstm: endState } };
}

/** Global-norm clipping: scales the gradient down to norm `maxNorm` (0: no clipping). */
export function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): { clipped: tf.Tensor[]; norm: number } {
  const norm = Math.sqrt(grads.reduce((acc, g) => acc + tf.tidy(() => g.square().sum().dataSync()[0]!), 0));
  const scale = maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1;
  return { clipped: grads.map((g) => (scale === 1 ? g.clone() : g.mul(scale))), norm };
}

/** All weights as one vector, in `weightShapes` order. */
export function packWeights(list: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => tf.concat(list.map((t) => t.reshape([-1]))) as tf.Tensor1D);
}

/** The weight tensors of a packed vector, in `weightShapes` order (fresh tensors). */
export function unpackWeights(arch: L2OArchitecture, flat: tf.Tensor1D): tf.Tensor[] {
  let offset = 0;
  return weightShapes(arch).map(({ shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tf.tidy(() => flat.slice(offset, n).reshape(shape));
    offset += n;
    return t;
  });
}

/** The meta-optimizer's state: the packed weights and Adam's moments, plain data to save. */
export interface MetaOptState {
  readonly weights: tf.Tensor1D;
  readonly adam: AdamState;
}

export function initMetaOpt(weights: tf.Tensor1D): MetaOptState {
  return { weights: weights.clone(), adam: adam({ lr: 1 }).init(weights) };
}

export interface MetaStepOptions extends WindowOptions {
  readonly metaLr: number;
  /** Clip the meta-gradient's global norm to this (0: no clipping, the spec's default). */
  readonly clip: number;
}

export interface MetaStepResult extends Omit<WindowResult, 'grads'> {
  readonly next: MetaOptState;
  /** Norm of the meta-gradient before clipping. */
  readonly gradNorm: number;
  /** False when the meta-gradient was not finite: the weights were left as they were. */
  readonly updated: boolean;
}

/**
 * One meta-step: a window's meta-gradient, clipped, then one Adam step on the weights.
 * Returns fresh tensors; `state` and `start` stay with the caller.
 */
export function metaStep(
  objective: Objective,
  arch: L2OArchitecture,
  state: MetaOptState,
  start: WindowStart,
  batches: readonly TensorBatch[],
  opts: MetaStepOptions,
): MetaStepResult {
  const list = unpackWeights(arch, state.weights);
  const { grads, ...window } = metaWindow(objective, arch, list, start, batches, opts);
  disposeAll(list);
  const { clipped, norm } = clipByGlobalNorm(grads, opts.clip);
  disposeAll(grads);
  const flatGrad = packWeights(clipped);
  disposeAll(clipped);
  const updated = Number.isFinite(norm) && Number.isFinite(window.metaLoss);
  const next: MetaOptState = updated
    ? (() => {
        const [weights, adamState] = adam({ lr: opts.metaLr }).step(state.weights, flatGrad, state.adam);
        return { weights, adam: adamState };
      })()
    : { weights: state.weights.clone(), adam: { t: state.adam.t, m: state.adam.m.clone(), v: state.adam.v.clone() } };
  flatGrad.dispose();
  return { ...window, next, gradNorm: norm, updated };
}

/** A fresh episode at x0 (copied) with a zero LSTM state. */
export function episodeStart(arch: L2OArchitecture, x0: tf.Tensor1D): WindowStart {
  return { x: x0.clone(), lstm: zeroFMState(arch, x0.shape[0]) };
}

export function disposeWindowStart(s: WindowStart): void {
  disposeAll([s.x, s.lstm]);
}
