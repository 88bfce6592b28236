import * as tf from '@tensorflow/tfjs';
import { disposeAll } from '../tensor/state.js';
import { preprocess } from '../l2o/preprocess.js';
import { unflattenWeights, type GateWeights, type L2OArchitecture } from '../l2o/weights.js';

/**
 * The learned optimizer's LSTM in feature-major layout with a hand-written backward pass, for
 * meta-training: the same function as `lstmStep` (tests check it), arranged for the wasm
 * backend. States are [H, d] (one column per coordinate), so the four gates of a layer come
 * from one untransposed matMul W·[input; h] as contiguous row blocks (cheap to slice, where
 * columns of a [d, 4H] matrix are a slow strided copy). tanh is computed as 2σ(2x) − 1: the
 * wasm tanh is about ten times slower than its sigmoid. The candidate gate's rows of W and b
 * are stored doubled, so one sigmoid over all 4H rows gives i, f, o and (g + 1) / 2.
 * No autodiff tape: the forward pass keeps what the backward pass needs.
 */

/** Gate order of the packed rows: the three sigmoid gates, then the candidate g. */
const PACKED_GATES = ['i', 'f', 'o', 'g'] as const;

/**
 * One layer: W = [W_x | W_h] per gate block, [4H, in + H]; bias [4H, 1]; g's block doubled.
 * `wT` is Wᵀ for the backward product (absent in gradients).
 */
export interface PackedLayer {
  readonly w: tf.Tensor2D;
  readonly b: tf.Tensor2D;
  readonly wT?: tf.Tensor2D;
}
export interface PackedWeights {
  readonly layers: readonly PackedLayer[];
  /** Head: [1, H] and [1, 1]. */
  readonly headW: tf.Tensor2D;
  readonly headB: tf.Tensor2D;
}

/** Hidden and cell states, [H, d] per layer. */
export interface FMState {
  readonly h: readonly tf.Tensor2D[];
  readonly c: readonly tf.Tensor2D[];
}

interface LayerCache {
  readonly z: tf.Tensor2D; // [in + H, d]: the layer's input stacked on h_prev
  readonly act: tf.Tensor2D; // [4H, d]: i, f, o, (g + 1) / 2
  readonly cPrev: tf.Tensor2D; // belongs to the previous state
  readonly tc: tf.Tensor2D; // tanh(c)
}
/** What the backward pass of one step needs. */
export interface StepCache {
  readonly layers: readonly LayerCache[];
  readonly hTop: tf.Tensor2D; // belongs to the next state
}

/** Row scale of the packed gate blocks: 2 for g (tanh(x) = 2σ(2x) − 1), 1 for the others. */
const gateScale = (g: (typeof PACKED_GATES)[number]): number => (g === 'g' ? 2 : 1);

/** Packs weights given as a list in `weightShapes` order (fresh tensors). */
export function packFM(arch: L2OArchitecture, list: readonly tf.Tensor[]): PackedWeights {
  return tf.tidy(() => {
    const w = unflattenWeights(arch, list);
    const layers = w.layers.map((layer) => {
      const gates: Array<[GateWeights, number]> = PACKED_GATES.map((g) => [layer[g], gateScale(g)]);
      const w = tf.concat(
        gates.map(([gw, s]) => tf.concat([gw.wx.transpose(), gw.wh.transpose()], 1).mul(s)),
        0,
      ) as tf.Tensor2D;
      return {
        w,
        wT: w.transpose() as tf.Tensor2D,
        b: tf
          .concat(
            gates.map(([gw, s]) => gw.b.mul(s)),
            0,
          )
          .reshape([4 * arch.hidden, 1]) as tf.Tensor2D,
      };
    });
    return { layers, headW: w.head.w.transpose() as tf.Tensor2D, headB: w.head.b.reshape([1, 1]) as tf.Tensor2D };
  });
}

/**
 * Gradients with respect to the packed weights as gradients of the original weights, in
 * `weightShapes` order (fresh tensors). The doubled g rows give back a factor 2 (chain rule).
 */
export function unpackGradFM(arch: L2OArchitecture, p: PackedWeights): tf.Tensor[] {
  const H = arch.hidden;
  return tf.tidy(() => {
    const out: tf.Tensor[] = [];
    for (const layer of p.layers) {
      const inputs = layer.w.shape[1] - H;
      const byGate = new Map(
        PACKED_GATES.map((g, k) => {
          const s = gateScale(g);
          const block = layer.w.slice([k * H, 0], [H, inputs + H]).mul(s);
          const gw = {
            wx: block.slice([0, 0], [H, inputs]).transpose(),
            wh: block.slice([0, inputs], [H, H]).transpose(),
            b: layer.b
              .slice([k * H, 0], [H, 1])
              .reshape([H])
              .mul(s),
          };
          return [g, gw];
        }),
      );
      for (const g of ['i', 'f', 'g', 'o'] as const) {
        const gw = byGate.get(g)!;
        out.push(gw.wx, gw.wh, gw.b);
      }
    }
    out.push(p.headW.transpose(), p.headB.reshape([1]));
    return out;
  });
}

export function zeroFMState(arch: L2OArchitecture, d: number): FMState {
  const z = () => tf.zeros([arch.hidden, d]) as tf.Tensor2D;
  return { h: Array.from({ length: arch.layers }, z), c: Array.from({ length: arch.layers }, z) };
}

/** tanh(x) as 2σ(2x) − 1. */
const tanh = (x: tf.Tensor): tf.Tensor2D => x.mul(2).sigmoid().mul(2).sub(1) as tf.Tensor2D;
const rows = (t: tf.Tensor2D, from: number, count: number): tf.Tensor2D => t.slice([from, 0], [count, t.shape[1]]);

/** The cell of one layer from its pre-activations [4H, d]: gates, c, tanh c and h. */
function cellForward(H: number, pre: tf.Tensor2D, bias: tf.Tensor2D, cPrev: tf.Tensor2D) {
  const act = pre.add(bias).sigmoid() as tf.Tensor2D;
  const g = rows(act, 3 * H, H)
    .mul(2)
    .sub(1);
  const c = rows(act, H, H)
    .mul(cPrev)
    .add(rows(act, 0, H).mul(g)) as tf.Tensor2D;
  const tc = tanh(c);
  return { act, c, tc, h: rows(act, 2 * H, H).mul(tc) as tf.Tensor2D };
}

/** The cell's backward pass: dPre [4H, d] and the adjoint of cPrev. */
function cellBackward(
  H: number,
  act: tf.Tensor2D,
  tc: tf.Tensor2D,
  cPrev: tf.Tensor2D,
  dh: tf.Tensor2D,
  dhNext: tf.Tensor2D | undefined,
  dcNext: tf.Tensor2D | undefined,
) {
  const dhAll = dhNext === undefined ? dh : dh.add(dhNext);
  const i = rows(act, 0, H);
  const g = rows(act, 3 * H, H)
    .mul(2)
    .sub(1);
  const dcFromH = dhAll.mul(rows(act, 2 * H, H)).mul(tc.square().neg().add(1));
  const dc = dcNext === undefined ? dcFromH : dcFromH.add(dcNext);
  // d(act) per block: i, f, o, and 2·dg for the doubled candidate rows; then σ'.
  const dAct = tf.concat([dc.mul(g), dc.mul(cPrev), dhAll.mul(tc), dc.mul(i).mul(2)], 0);
  return { dPre: dAct.mul(act.sub(act.square())) as tf.Tensor2D, dcPrev: dc.mul(rows(act, H, H)) as tf.Tensor2D };
}

/** One step: the update s·out (length d), the next state and the cache for `backwardFM`. */
export function forwardFM(
  p: PackedWeights,
  arch: L2OArchitecture,
  grads: tf.Tensor1D,
  state: FMState,
): { update: tf.Tensor1D; state: FMState; cache: StepCache } {
  const H = arch.hidden;
  const d = grads.shape[0];
  let out: { update: tf.Tensor1D; state: FMState; cache: StepCache } | undefined;
  tf.tidy(() => {
    const [first, second] = preprocess(grads, arch.preprocP);
    let input: tf.Tensor2D = tf.stack([first, second]) as tf.Tensor2D; // [2, d]
    const h: tf.Tensor2D[] = [];
    const c: tf.Tensor2D[] = [];
    const layers: LayerCache[] = [];
    p.layers.forEach((layer, l) => {
      const cPrev = state.c[l]!;
      const z = tf.concat([input, state.h[l]!], 0) as tf.Tensor2D;
      const pre = tf.matMul(layer.w, z) as tf.Tensor2D;
      const { act, c: cNext, tc, h: hNext } = cellForward(H, pre, layer.b, cPrev);
      h.push(hNext);
      c.push(cNext);
      layers.push({ z, act, cPrev, tc });
      input = hNext;
    });
    const update = tf.matMul(p.headW, input).add(p.headB).reshape([d]).mul(arch.outScale) as tf.Tensor1D;
    out = { update, state: { h, c }, cache: { layers, hTop: input } };
    for (const t of [update, ...h, ...c]) tf.keep(t);
    for (const lc of layers) for (const t of [lc.z, lc.act, lc.tc]) tf.keep(t);
  });
  return out!;
}

/** Frees a cache's own tensors (cPrev and hTop belong to the states). */
export function disposeCache(cache: StepCache): void {
  for (const lc of cache.layers) disposeAll([lc.z, lc.act, lc.tc]);
}

/**
 * Vector–Jacobian product of one step: given the adjoints of the update (length d) and of the
 * next state (absent: zero), the gradients of the packed weights and, when `needState`, the
 * adjoint of the previous state.
 */
export function backwardFM(
  p: PackedWeights,
  arch: L2OArchitecture,
  cache: StepCache,
  dUpdate: tf.Tensor1D,
  dNext: FMState | undefined,
  needState: boolean,
): { grads: PackedWeights; dPrev: FMState | undefined } {
  const H = arch.hidden;
  const d = dUpdate.shape[0];
  let result: { grads: PackedWeights; dPrev: FMState | undefined } | undefined;
  tf.tidy(() => {
    const dOut = dUpdate.reshape([1, d]).mul(arch.outScale) as tf.Tensor2D;
    const headW = cache.hTop.mul(dOut).sum(1).reshape([1, H]) as tf.Tensor2D;
    const headB = dOut.sum().reshape([1, 1]) as tf.Tensor2D;
    let dhAbove = p.headW.transpose().mul(dOut) as tf.Tensor2D; // the outer product headWᵀ·dOut
    const layerGrads: PackedLayer[] = [];
    const dhPrev: tf.Tensor2D[] = [];
    const dcPrev: tf.Tensor2D[] = [];
    for (let l = p.layers.length - 1; l >= 0; l--) {
      const { z, act, cPrev, tc } = cache.layers[l]!;
      const cell = cellBackward(H, act, tc, cPrev, dhAbove, dNext?.h[l], dNext?.c[l]);
      const dPre = cell.dPre; // [4H, d]
      const layer = p.layers[l]!;
      // Untransposed products only (a transposed operand makes the wasm matMul ~6× slower).
      layerGrads[l] = { w: tf.matMul(dPre, z.transpose()) as tf.Tensor2D, b: dPre.sum(1).reshape([4 * H, 1]) as tf.Tensor2D };
      const inputs = z.shape[0] - H;
      const dz = tf.matMul(layer.wT!, dPre) as tf.Tensor2D; // [in + H, d]
      dhPrev[l] = rows(dz, inputs, H);
      dcPrev[l] = cell.dcPrev;
      if (l > 0) dhAbove = rows(dz, 0, inputs);
    }
    result = { grads: { layers: layerGrads, headW, headB }, dPrev: needState ? { h: dhPrev, c: dcPrev } : undefined };
    for (const t of [headW, headB, ...layerGrads.flatMap((lg) => [lg.w, lg.b])]) tf.keep(t);
    if (needState) for (const t of [...dhPrev, ...dcPrev]) tf.keep(t);
  });
  return result!;
}

export function packedTensors(p: PackedWeights): tf.Tensor[] {
  return [...p.layers.flatMap((l) => (l.wT ? [l.w, l.b, l.wT] : [l.w, l.b])), p.headW, p.headB];
}

/** Elementwise sum of two packed gradients (fresh tensors). */
export function addPacked(a: PackedWeights, b: PackedWeights): PackedWeights {
  return {
    layers: a.layers.map((l, k) => ({ w: l.w.add(b.layers[k]!.w) as tf.Tensor2D, b: l.b.add(b.layers[k]!.b) as tf.Tensor2D })),
    headW: a.headW.add(b.headW) as tf.Tensor2D,
    headB: a.headB.add(b.headB) as tf.Tensor2D,
  };
}

/** Feature-major [H, d] states from coordinate-major [d, H] ones (as `lstmStep` keeps them), and back. */
export function toFM(s: FMState): FMState {
  return tf.tidy(() => ({ h: s.h.map((t) => t.transpose() as tf.Tensor2D), c: s.c.map((t) => t.transpose() as tf.Tensor2D) }));
}
export const fromFM = toFM;
