import * as tf from '@tensorflow/tfjs';
import { activeKernels, align16, CONSTANTS, heapOffset, onHeap } from '../engine/instance.js';
import { parallelLstmStep, parallelWanted } from '../engine/parallel.js';
import type { L2OState } from './lstmState.js';
import { GATES, INPUTS, type L2OArchitecture, type L2OWeights } from './weights.js';

/** The LSTM weights in the fused kernel's layout (see native/l2o_kernels.c), with its architecture. */
export interface PackedLstm {
  readonly arch: L2OArchitecture;
  readonly data: Float32Array;
}

/** Coordinates per tile in the kernel (TILE in native/l2o_kernels.c). */
const TILE = 32;

/** Whether the fused kernel handles this architecture (hidden units in blocks of 4, 2 inputs). */
export const fusedSupports = (arch: L2OArchitecture): boolean => arch.hidden % 4 === 0 && arch.hidden > 0 && arch.layers > 0;

/**
 * Packs the weights per layer and per block of 4 hidden units: the biases [gate][4], then for
 * each input k (layer inputs, then recurrent) the weights [gate][4]; the head (w, b) last.
 * The sigmoid gates' weights and biases are halved (exactly).
 */
export function packLstm(weights: L2OWeights, arch: L2OArchitecture): PackedLstm {
  const H = arch.hidden;
  const parts: number[] = [];
  weights.layers.forEach((layer, l) => {
    const kin = l === 0 ? INPUTS : H;
    // Sigmoid gates pre-halved: the kernel computes σ(x) as ½ + ½ tanh(x/2).
    const gate = GATES.map((g) => {
      const s = g === 'g' ? 1 : 0.5;
      const scaled = (t: tf.Tensor) => t.dataSync().map((v) => v * s);
      return { wx: scaled(layer[g].wx), wh: scaled(layer[g].wh), b: scaled(layer[g].b) };
    });
    for (let jb = 0; jb < H / 4; jb++) {
      for (const g of gate) for (let lane = 0; lane < 4; lane++) parts.push(g.b[4 * jb + lane]!);
      for (let k = 0; k < kin + H; k++) {
        for (const g of gate) {
          for (let lane = 0; lane < 4; lane++) {
            const j = 4 * jb + lane;
            parts.push(k < kin ? g.wx[k * H + j]! : g.wh[(k - kin) * H + j]!);
          }
        }
      }
    }
  });
  parts.push(...weights.head.w.dataSync(), weights.head.b.dataSync()[0]!);
  return { arch, data: Float32Array.from(parts) };
}

/**
 * One LSTM step by the fused wasm kernel: the same function as `lstmStep` (within float32
 * rounding), for inference only (no gradient). Returns null where the kernel cannot run
 * (another backend, no SIMD, kernels off, or tensors not on the wasm heap): use `lstmStep`.
 */
export function fusedLstmStep(packed: PackedLstm, grads: tf.Tensor1D, state: L2OState): { update: tf.Tensor1D; state: L2OState } | null {
  const k = activeKernels();
  const { arch } = packed;
  if (k === null || !fusedSupports(arch)) return null;
  const inputs = [grads, ...state.h, ...state.c];
  if (!inputs.every((t) => onHeap(k, t))) return null;
  const d = grads.shape[0];
  const H = arch.hidden;
  const L = arch.layers;
  const { backend } = k;
  const update = backend.makeOutput([d], 'float32');
  const hOut = Array.from({ length: L }, () => backend.makeOutput([d, H], 'float32'));
  const cOut = Array.from({ length: L }, () => backend.makeOutput([d, H], 'float32'));
  const off = (info: tf.TensorInfo) => heapOffset(k, info);

  const inputsAt = [...state.h, ...state.c].map(off);
  const outputsAt = [...hOut, ...cOut].map(off);
  const parallel =
    parallelWanted(d) &&
    parallelLstmStep(k, {
      d,
      H,
      L,
      weights: packed.data,
      p: arch.preprocP,
      outScale: arch.outScale,
      grads: off(grads),
      update: off(update),
      stateIn: inputsAt,
      stateOut: outputsAt,
      stateKey: [...state.h, ...state.c].map((t) => t.dataId),
      outKey: [...hOut, ...cOut].map((t) => t.dataId),
    });
  if (!parallel) {
    // Scratch: the pointer table, the constants, the packed weights, the preprocessed inputs
    // [d, 2], the gates of a tile of coordinates [TILE, 4H]. No gates saved (the table's last word).
    const tableWords = 10 + 4 * L;
    const constantsAt = align16(4 * tableWords);
    const weightsAt = constantsAt + 4 * CONSTANTS.length;
    const preAt = align16(weightsAt + 4 * packed.data.length);
    const gatesAt = align16(preAt + 8 * d);
    const base = k.scratch(gatesAt + 4 * TILE * 4 * H);
    const table = [d, H, L, base + weightsAt, off(grads), off(update), base + preAt, base + constantsAt, base + gatesAt, ...inputsAt, ...outputsAt, 0];
    const u32 = k.heapU32();
    u32.set(table, base / 4);
    u32.set(CONSTANTS, (base + constantsAt) / 4);
    k.heapF32().set(packed.data, (base + weightsAt) / 4);
    k.lstmStep(base, arch.preprocP, Math.exp(-arch.preprocP), Math.exp(arch.preprocP), arch.outScale);
  }

  const engine = tf.engine();
  const wrap = <T extends tf.Tensor>(info: tf.TensorInfo): T => engine.makeTensorFromTensorInfo(info, backend) as T;
  return { update: wrap<tf.Tensor1D>(update), state: { h: hOut.map((t) => wrap<tf.Tensor2D>(t)), c: cOut.map((t) => wrap<tf.Tensor2D>(t)) } };
}
