import { Conv2DBackpropFilter, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs';
import { convGeometry, failer, float32Rank4, heapMatMul, shape4Attr, wasmBackend } from './convCommon.js';

const fail = failer(Conv2DBackpropFilter);

/**
 * dW[kh, kw, ci, co] = Σ_{n,oh,ow} x[n, oh·sh − top + kh, ow·sw − left + kw, ci] · dy[n, oh, ow, co].
 * As matrices, with the patches Pᵀ [K, M] (im2col, K = fh·fw·Cin, M = N·outH·outW), dW = Pᵀ·dy:
 * one plain matMul on the wasm backend's BatchMatMul. Its XNNPACK operator packs the right
 * operand on every new tensor, so that one must be the smaller (dy, not the patches), and a
 * transposed-operand matMul is several times slower: hence Pᵀ, written here in JS. The packed
 * operand is cached under the tensor's id whatever shape it is read as, so dy goes in as a
 * fresh copy: a cache entry made for dy under another shape can neither serve nor outlive this.
 */
const conv2dBackpropFilter: KernelFunc = ({ inputs, backend: anyBackend, attrs }) => {
  const backend = wasmBackend(anyBackend, fail);
  const x = float32Rank4(inputs['x'], 'x', fail);
  const dy = float32Rank4(inputs['dy'], 'dy', fail);
  const filterShape = shape4Attr(attrs?.['filterShape'], 'filterShape', fail);
  const { n, h, w, c, oh, ow, co, fh, fw, sh, sw, top, left } = convGeometry(x.shape, filterShape, attrs, fail);
  if (dy.shape.join() !== [n, oh, ow, co].join()) {
    fail(`dy has shape [${dy.shape}], the convolution of x [${x.shape}] gives [${[n, oh, ow, co]}]`);
  }
  const k = fh * fw * c;
  const m = n * oh * ow;

  const patches = backend.makeOutput([k, m], 'float32');
  const dy2d = backend.makeOutput([m, co], 'float32');
  // Views after every allocation: a growing heap replaces the buffer under older views.
  backend.typedArrayFromHeap(dy2d).set(backend.typedArrayFromHeap(dy));
  const xs = backend.typedArrayFromHeap(x);
  const pt = backend.typedArrayFromHeap(patches);
  // One sweep of x per filter tap, reading runs of Cin and writing Cin rows of Pᵀ side by side.
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      const row0 = (kh * fw + kw) * c * m;
      let col = 0;
      for (let b = 0; b < n; b++) {
        for (let y = 0; y < oh; y++) {
          const ih = y * sh - top + kh;
          for (let xo = 0; xo < ow; xo++, col++) {
            const iw = xo * sw - left + kw;
            if (ih >= 0 && ih < h && iw >= 0 && iw < w) {
              const src = ((b * h + ih) * w + iw) * c;
              for (let ci = 0; ci < c; ci++) pt[row0 + ci * m + col] = xs[src + ci]!;
            } else {
              for (let ci = 0; ci < c; ci++) pt[row0 + ci * m + col] = 0;
            }
          }
        }
      }
    }
  }
  const out = heapMatMul(backend, patches, dy2d, fail);
  backend.disposeData(patches.dataId);
  backend.disposeData(dy2d.dataId);
  return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
};

export const conv2dBackpropFilterWasm: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter,
};
