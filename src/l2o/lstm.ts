import * as tf from '@tensorflow/tfjs';
import type { Optimizer } from '../optim/optimizer.js';
import { tidyState } from '../tensor/state.js';
import { fusedLstmStep, packLstm, type PackedLstm } from './fastLstm.js';
import type { L2OState } from './lstmState.js';
import { preprocess } from './preprocess.js';
import { DEFAULT_ARCHITECTURE, type GateWeights, type L2OArchitecture, type L2OWeights } from './weights.js';

export type { L2OState } from './lstmState.js';

/** A gate's pre-activation. Input weights with two rows are applied as two broadcasts (no concat). */
function gateInput(inputs: readonly tf.Tensor2D[], h: tf.Tensor2D, w: GateWeights): tf.Tensor2D {
  const fromInput = inputs.length === 1 ? tf.matMul(inputs[0]!, w.wx) : inputs.map((col, r) => col.mul(w.wx.slice([r, 0], [1, -1]))).reduce((a, b) => a.add(b));
  return fromInput.add(tf.matMul(h, w.wh)).add(w.b) as tf.Tensor2D;
}

/**
 * One step of the coordinate-wise LSTM on the preprocessed gradient: returns the update
 * (already scaled by outScale) and the next state. Differentiable in the weights.
 */
export function lstmStep(weights: L2OWeights, arch: L2OArchitecture, grads: tf.Tensor1D, state: L2OState): { update: tf.Tensor1D; state: L2OState } {
  const d = grads.shape[0];
  const [first, second] = preprocess(grads, arch.preprocP);
  let inputs: tf.Tensor2D[] = [first.reshape([d, 1]), second.reshape([d, 1])];
  const h: tf.Tensor2D[] = [];
  const c: tf.Tensor2D[] = [];
  weights.layers.forEach((layer, l) => {
    const hPrev = state.h[l]!;
    const cPrev = state.c[l]!;
    const i = tf.sigmoid(gateInput(inputs, hPrev, layer.i));
    const f = tf.sigmoid(gateInput(inputs, hPrev, layer.f));
    const g = tf.tanh(gateInput(inputs, hPrev, layer.g));
    const o = tf.sigmoid(gateInput(inputs, hPrev, layer.o));
    const cNext = f.mul(cPrev).add(i.mul(g)) as tf.Tensor2D;
    const hNext = o.mul(tf.tanh(cNext)) as tf.Tensor2D;
    h.push(hNext);
    c.push(cNext);
    inputs = [hNext];
  });
  const out = tf.matMul(h[h.length - 1]!, weights.head.w).add(weights.head.b);
  return { update: out.reshape([d]).mul(arch.outScale) as tf.Tensor1D, state: { h, c } };
}

export function zeroState(arch: L2OArchitecture, d: number): L2OState {
  const z = () => tf.zeros([d, arch.hidden]) as tf.Tensor2D;
  return { h: Array.from({ length: arch.layers }, z), c: Array.from({ length: arch.layers }, z) };
}

/**
 * The learned optimizer as an `Optimizer`: x ← x + s · LSTM(preprocess(g)). On the wasm backend
 * a step runs the fused kernel (fastLstm.ts, same numbers within float32 rounding); elsewhere,
 * or where it cannot run, the tfjs ops of `lstmStep`. Meta-training differentiates `lstmStep`.
 */
export function l2o(weights: L2OWeights, arch: L2OArchitecture = DEFAULT_ARCHITECTURE): Optimizer<L2OState> {
  let packed: PackedLstm | undefined;
  return {
    name: 'l2o',
    init: (params) => zeroState(arch, params.shape[0]),
    step: (params, grads, state) =>
      tidyState(() => {
        packed ??= packLstm(weights, arch);
        const { update, state: next } = fusedLstmStep(packed, grads, state) ?? lstmStep(weights, arch, grads, state);
        return [params.add(update) as tf.Tensor1D, next] as const;
      }),
    reset: (params) => zeroState(arch, params.shape[0]),
  };
}
