import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { isWasmBackend } from '../../engine/wasmBackend.js';
import { backend_util, BatchMatMul, getKernel, type NamedAttrMap, type TensorInfo } from '@tensorflow/tfjs';

type Pad = backend_util.ExplicitPadding | 'valid' | 'same' | number;
type Pair = [number, number];
export type Shape4 = [number, number, number, number];

/** Errors name the kernel and the attribute. */
export const failer =
  (kernel: string) =>
  (msg: string): never => {
    throw new Error(`${kernel} (wasm): ${msg}`);
  };

const isPositivePair = (v: unknown): v is Pair => Array.isArray(v) && v.length === 2 && v.every((n) => Number.isInteger(n) && n >= 1);

function strideAttr(v: unknown, fail: (m: string) => never): number | Pair {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 1) return v;
  if (isPositivePair(v)) return [v[0], v[1]];
  return fail(`strides must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
}

function padAttr(v: unknown, fail: (m: string) => never): Pad {
  if (v === 'same' || v === 'valid') return v;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  const side = (i: number): Pair | undefined => {
    const p: unknown = Array.isArray(v) ? v[i] : undefined;
    return Array.isArray(p) && p.length === 2 && p.every((n) => Number.isInteger(n) && n >= 0) ? [p[0], p[1]] : undefined;
  };
  const [n, t, l, c] = [side(0), side(1), side(2), side(3)];
  if (Array.isArray(v) && v.length === 4 && n && t && l && c) return [n, t, l, c];
  return fail(`pad must be 'same', 'valid', a number or [[0,0],[t,b],[l,r],[0,0]], got ${JSON.stringify(v)}`);
}

export function shape4Attr(v: unknown, name: string, fail: (m: string) => never): Shape4 {
  if (Array.isArray(v) && v.length === 4 && v.every((n) => Number.isInteger(n) && n >= 1)) return [v[0], v[1], v[2], v[3]];
  return fail(`${name} must be 4 positive integers, got ${JSON.stringify(v)}`);
}

function roundingAttr(v: unknown, fail: (m: string) => never): 'floor' | 'round' | 'ceil' | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === 'floor' || v === 'round' || v === 'ceil') return v;
  return fail(`dimRoundingMode must be floor, round or ceil, got ${JSON.stringify(v)}`);
}

/**
 * The geometry of an NHWC, dilation-1 convolution from a backprop kernel's attributes,
 * with unsupported settings rejected by name.
 */
export function convGeometry(xShape: Shape4, filterShape: Shape4, attrs: NamedAttrMap | undefined, fail: (m: string) => never) {
  const a = attrs ?? {};
  const dataFormat = a['dataFormat'] ?? 'NHWC';
  if (dataFormat !== 'NHWC') fail(`only dataFormat NHWC is supported, got ${JSON.stringify(dataFormat)}`);
  const dilations = a['dilations'] ?? 1;
  if (!(dilations === 1 || (Array.isArray(dilations) && dilations.every((d) => d === 1)))) {
    fail(`only dilations 1 are supported, got ${JSON.stringify(dilations)}`);
  }
  const info = backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strideAttr(a['strides'], fail),
    1,
    padAttr(a['pad'], fail),
    roundingAttr(a['dimRoundingMode'], fail),
  );
  return {
    n: info.batchSize,
    h: info.inHeight,
    w: info.inWidth,
    c: info.inChannels,
    oh: info.outHeight,
    ow: info.outWidth,
    co: info.outChannels,
    fh: info.filterHeight,
    fw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

export function wasmBackend(backend: unknown, fail: (m: string) => never): BackendWasm {
  return isWasmBackend(backend) ? backend : fail('registered for the wasm backend only');
}

export function float32Rank4(t: TensorInfo | undefined, name: string, fail: (m: string) => never): TensorInfo & { shape: Shape4 } {
  if (t === undefined) return fail(`needs input ${name}`);
  if (t.dtype !== 'float32') fail(`${name} must be float32, got ${t.dtype}`);
  const [a, b, c, d, ...rest] = t.shape;
  if (a === undefined || b === undefined || c === undefined || d === undefined || rest.length > 0) {
    return fail(`${name} must be rank 4, got [${t.shape}]`);
  }
  return { ...t, shape: [a, b, c, d] };
}

/** a [r, k] · b [k, c] (row-major float32 on the heap) with the backend's own BatchMatMul; a fresh output. */
export function heapMatMul(backend: BackendWasm, a: TensorInfo, b: TensorInfo, fail: (m: string) => never): TensorInfo {
  const kernel = getKernel(BatchMatMul, 'wasm') ?? fail('the wasm backend has no BatchMatMul kernel');
  const out = kernel.kernelFunc({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } });
  return Array.isArray(out) ? fail('BatchMatMul returned several tensors') : out;
}
