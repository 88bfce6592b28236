import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../tensor/rng.js';

export const GATES = ['i', 'f', 'g', 'o'] as const;
export type Gate = (typeof GATES)[number];

/** One gate of an LSTM layer: input weights [in, H], recurrent weights [H, H], bias [H]. */
export interface GateWeights {
  readonly wx: tf.Tensor2D;
  readonly wh: tf.Tensor2D;
  readonly b: tf.Tensor1D;
}
export type LstmLayer = Readonly<Record<Gate, GateWeights>>;

/** The coordinate-wise network: stacked LSTM layers and a linear head H → 1. */
export interface L2OWeights {
  readonly layers: readonly LstmLayer[];
  readonly head: { readonly w: tf.Tensor2D; readonly b: tf.Tensor1D };
}

export interface L2OArchitecture {
  /** LSTM cells per layer (Andrychowicz et al.: 20). */
  readonly hidden: number;
  /** Stacked LSTM layers (2). */
  readonly layers: number;
  /** Preprocessing constant p (10). */
  readonly preprocP: number;
  /** Output scale s in x ← x + s · out (0.1). */
  readonly outScale: number;
}

export const DEFAULT_ARCHITECTURE: L2OArchitecture = { hidden: 20, layers: 2, preprocP: 10, outScale: 0.1 };

/** Inputs per coordinate after preprocessing. */
export const INPUTS = 2;

/** Named weights in a fixed order with their expected shapes, for checkpoints and meta-gradients. */
export function weightShapes(arch: L2OArchitecture): Array<{ name: string; shape: number[] }> {
  const out: Array<{ name: string; shape: number[] }> = [];
  for (let l = 0; l < arch.layers; l++) {
    const inputs = l === 0 ? INPUTS : arch.hidden;
    for (const g of GATES) {
      out.push({ name: `layers.${l}.${g}.wx`, shape: [inputs, arch.hidden] });
      out.push({ name: `layers.${l}.${g}.wh`, shape: [arch.hidden, arch.hidden] });
      out.push({ name: `layers.${l}.${g}.b`, shape: [arch.hidden] });
    }
  }
  out.push({ name: 'head.w', shape: [arch.hidden, 1] });
  out.push({ name: 'head.b', shape: [1] });
  return out;
}

/** The weights as a list in `weightShapes` order. */
export function flattenWeights(w: L2OWeights): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (const layer of w.layers) for (const g of GATES) out.push(layer[g].wx, layer[g].wh, layer[g].b);
  out.push(w.head.w, w.head.b);
  return out;
}

/** Weights from a list in `weightShapes` order (the tensors are used as they are). */
export function unflattenWeights(arch: L2OArchitecture, list: readonly tf.Tensor[]): L2OWeights {
  let i = 0;
  const take = <T extends tf.Tensor>(): T => list[i++] as T;
  const layers: LstmLayer[] = [];
  for (let l = 0; l < arch.layers; l++) {
    const gate = (): GateWeights => ({ wx: take(), wh: take(), b: take() });
    layers.push({ i: gate(), f: gate(), g: gate(), o: gate() });
  }
  return { layers, head: { w: take(), b: take() } };
}

/** PyTorch's LSTMCell/Linear initialisation: uniform ±1/√H (head: ±1/√H as fan-in is H). */
export function randomWeights(arch: L2OArchitecture, rng: Rng): L2OWeights {
  const bound = 1 / Math.sqrt(arch.hidden);
  const list = weightShapes(arch).map(({ shape }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let j = 0; j < n; j++) data[j] = rng.between(-bound, bound);
    return tf.tensor(data, shape);
  });
  return unflattenWeights(arch, list);
}

export function disposeWeights(w: L2OWeights): void {
  for (const t of flattenWeights(w)) t.dispose();
}
