import * as tf from '@tensorflow/tfjs';
import type { GradConfig, NamedAttrMap } from '@tensorflow/tfjs';

/** Swaps the last two axes (the matrix axes of a possibly batched matMul operand). */
function swapLast(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
  return x.transpose(perm);
}

/** A matMul whose operands are transposed explicitly first: the wasm kernel is fastest untransposed. */
function mm(a: tf.Tensor, b: tf.Tensor, transposeA: boolean, transposeB: boolean): tf.Tensor {
  return tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b);
}

function flag(attrs: NamedAttrMap, name: string): boolean {
  return attrs[name] === true;
}

/**
 * The gradient of BatchMatMul with the same formulas as TensorFlow.js's own, but every product
 * is a plain matMul of explicitly transposed operands. On wasm a matMul with transposeA or
 * transposeB runs about 6× slower than a transpose followed by a plain matMul, and the default
 * gradient uses them for both operands: this halves the backward pass of an LSTM step.
 */
export const matMulGradConfig: GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const dyT = Array.isArray(dy) ? dy[0]! : dy;
    const [a, b] = saved;
    if (a === undefined || b === undefined) throw new Error('BatchMatMul gradient: saved inputs missing');
    const tA = flag(attrs, 'transposeA');
    const tB = flag(attrs, 'transposeB');
    if (!tA && !tB) return { a: () => mm(dyT, b, false, true), b: () => mm(a, dyT, true, false) };
    if (!tA && tB) return { a: () => mm(dyT, b, false, false), b: () => mm(dyT, a, true, false) };
    if (tA && !tB) return { a: () => mm(b, dyT, false, true), b: () => mm(a, dyT, false, false) };
    return { a: () => mm(b, dyT, true, true), b: () => mm(dyT, a, true, true) };
  },
};

let registered = false;

/** Replaces TensorFlow.js's BatchMatMul gradient (all backends; same values) once. */
export function registerMatMulGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient(matMulGradConfig);
}
