import * as tf from '@tensorflow/tfjs';
import type { PackedLstm } from '../l2o/fastLstm.js';
import { activeKernels, align16, CONSTANTS, heapOffset, onHeap } from '../engine/instance.js';
import type { L2OState } from '../l2o/lstm.js';
import { GATES, INPUTS, weightShapes, type L2OArchitecture } from '../l2o/weights.js';

/** Coordinates per tile of the backward kernel (TILE_B in native/l2o_kernels.c). */
const BACKWARD_TILE = 16;

/** Inputs of one backward step: the step's own inputs and outputs, and the adjoints of its outputs. */
export interface BackwardStepInputs {
  readonly grads: tf.Tensor1D;
  readonly prev: L2OState;
  readonly next: L2OState;
  /** Adjoint of the update (length d). */
  readonly dUpdate: tf.Tensor1D;
  /** Adjoint of the next state (absent: zero). */
  readonly dNext: L2OState | undefined;
}

/**
 * The vector–Jacobian product of one step of the fused LSTM kernel (native/l2o_kernels.c,
 * `lstm_backward`), in place on the tfjs heap: adds the gradient of the packed weights to `dW`
 * (a float32 tensor as long as `packed.data`, in its layout, mutated) and returns the adjoint of
 * the previous state when `needPrev`. States are [d, H] as `lstmStep` keeps them. Returns null
 * where the kernel cannot run (then use lstmBackprop.ts). Subnormal adjoints are flushed to 0.
 */
export function fusedLstmBackward(packed: PackedLstm, step: BackwardStepInputs, dW: tf.Tensor1D, needPrev: boolean): { dPrev: L2OState | undefined } | null {
  const k = activeKernels();
  const { arch } = packed;
  if (k === null || arch.hidden % 4 !== 0) return null;
  const { grads, prev, next, dUpdate, dNext } = step;
  const tensors = [grads, dUpdate, dW, ...prev.h, ...prev.c, ...next.h, ...next.c, ...(dNext ? [...dNext.h, ...dNext.c] : [])];
  if (!tensors.every((t) => onHeap(k, t)) || dW.size !== packed.data.length) return null;
  const d = grads.shape[0];
  const H = arch.hidden;
  const L = arch.layers;
  const { backend } = k;
  const dh = needPrev ? Array.from({ length: L }, () => backend.makeOutput([d, H], 'float32')) : [];
  const dc = needPrev ? Array.from({ length: L }, () => backend.makeOutput([d, H], 'float32')) : [];
  const off = (t: { dataId: object }) => heapOffset(k, t);
  const none = Array.from({ length: L }, () => 0);
  const states = [...prev.h, ...prev.c, ...next.h, ...next.c].map(off);
  const adjoints = dNext ? [...dNext.h, ...dNext.c].map(off) : [...none, ...none];
  const outputs = needPrev ? [...dh, ...dc].map(off) : [...none, ...none];
  // Scratch: the pointer table, the constants, the packed weights, the preprocessed inputs
  // [d, 2], the gates and adjoints of a tile of coordinates. The gates are recomputed (the table's last word: 0).
  const tableWords = 11 + 8 * L;
  const constantsAt = align16(4 * tableWords);
  const weightsAt = constantsAt + 4 * CONSTANTS.length;
  const preAt = align16(weightsAt + 4 * packed.data.length);
  const adjointsAt = align16(preAt + 8 * d);
  const base = k.scratch(adjointsAt + 4 * (6 * BACKWARD_TILE + 16) * H);
  const pointers = [base + weightsAt, off(grads), off(dUpdate), base + preAt, base + constantsAt, off(dW), base + adjointsAt];
  const table = [d, H, L, ...pointers, ...states, ...adjoints, ...outputs, 0];
  k.heapU32().set(table, base / 4);
  k.heapU32().set(CONSTANTS, (base + constantsAt) / 4);
  k.heapF32().set(packed.data, (base + weightsAt) / 4);
  k.lstmBackward(base, arch.preprocP, Math.exp(-arch.preprocP), Math.exp(arch.preprocP), arch.outScale);
  if (!needPrev) return { dPrev: undefined };
  const engine = tf.engine();
  const wrap = (info: tf.TensorInfo) => engine.makeTensorFromTensorInfo(info, backend) as tf.Tensor2D;
  return { dPrev: { h: dh.map(wrap), c: dc.map(wrap) } };
}

/**
 * A gradient in the packed layout of `packLstm` as gradients of the weights, in `weightShapes`
 * order (fresh tensors). The sigmoid gates are stored halved (W' = W/2), so dW = dW'/2.
 */
export function unpackLstmGrad(arch: L2OArchitecture, packed: Float32Array): tf.Tensor[] {
  const H = arch.hidden;
  const shapes = weightShapes(arch);
  const out = shapes.map(({ shape }) => new Float32Array(shape.reduce((a, b) => a * b, 1)));
  let at = 0;
  for (let l = 0; l < arch.layers; l++) {
    const kin = l === 0 ? INPUTS : H;
    // weightShapes order per layer: for each gate wx, wh, b.
    const slot = (gate: number, part: number) => out[l * 3 * GATES.length + 3 * gate + part]!;
    for (let jb = 0; jb < H / 4; jb++) {
      for (let gate = 0; gate < GATES.length; gate++) {
        const s = GATES[gate] === 'g' ? 1 : 0.5;
        for (let lane = 0; lane < 4; lane++) slot(gate, 2)[4 * jb + lane] = s * packed[at++]!;
      }
      for (let k = 0; k < kin + H; k++) {
        for (let gate = 0; gate < GATES.length; gate++) {
          const s = GATES[gate] === 'g' ? 1 : 0.5;
          for (let lane = 0; lane < 4; lane++) {
            const j = 4 * jb + lane;
            if (k < kin) slot(gate, 0)[k * H + j] = s * packed[at++]!;
            else slot(gate, 1)[(k - kin) * H + j] = s * packed[at++]!;
          }
        }
      }
    }
  }
  out[out.length - 2]!.set(packed.subarray(at, at + H));
  out[out.length - 1]![0] = packed[at + H]!;
  return shapes.map(({ shape }, i) => tf.tensor(out[i]!, shape));
}
