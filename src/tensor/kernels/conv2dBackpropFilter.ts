import { Conv2DBackpropFilter, type KernelConfig, type KernelFunc } from '@tensorflow/tfjs';
import { convGeometry, failer, float32Rank4, heapMatMul, shape4Attr, wasmBackend } from './convCommon.js';

const fail = failer(Conv2DBackpropFilter);

/**
 * dW[kh, kw, ci, co] = Σ_{n,oh,ow} x[n, oh·sh − top + kh, ow·sw − left + kw, ci] · dy[n, oh, ow, co].
 * The patches are laid out transposed (im2col as a [K, M] matrix, K = fh·fw·Cin, M = N·outH·outW)
 * so that dW = Pᵀ · dy is one plain matMul on the wasm backend's own BatchMatMul kernel: a
 * transposed-operand matMul is several times slower there.
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
  // Views after every allocation: a growing heap replaces the buffer under older views.
  const xs = backend.typedArrayFromHeap(x);
  const pt = backend.typedArrayFromHeap(patches);
  for (let kh = 0; kh < fh; kh++) {
    for (let kw = 0; kw < fw; kw++) {
      for (let ci = 0; ci < c; ci++) {
        let dst = ((kh * fw + kw) * c + ci) * m;
        for (let b = 0; b < n; b++) {
          for (let y = 0; y < oh; y++) {
            const ih = y * sh - top + kh;
            if (ih < 0 || ih >= h) {
              pt.fill(0, dst, dst + ow);
              dst += ow;
              continue;
            }
            const row = (b * h + ih) * w;
            for (let xo = 0; xo < ow; xo++) {
              const iw = xo * sw - left + kw;
              pt[dst++] = iw >= 0 && iw < w ? xs[(row + iw) * c + ci]! : 0;
            }
          }
        }
      }
    }
  }
  const out = heapMatMul(backend, patches, { dataId: dy.dataId, shape: [m, co], dtype: 'float32' }, fail);
  backend.disposeData(patches.dataId);
  return { dataId: out.dataId, shape: filterShape, dtype: 'float32' };
};

export const conv2dBackpropFilterWasm: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: conv2dBackpropFilter,
};
