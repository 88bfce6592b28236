import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, loadLstmCheckpoint as loadCheckpoint } from '../src/l2o/weightsFile.js';
import { l2o } from '../src/l2o/lstm.js';
import { preprocess } from '../src/l2o/preprocess.js';
import { DEFAULT_ARCHITECTURE, GATES, flattenWeights, randomWeights, weightShapes, type L2OWeights } from '../src/l2o/weights.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const arch = DEFAULT_ARCHITECTURE;

describe('preprocess', () => {
  it('maps |g| ≥ e^−p to (log|g|/p, sign g) and smaller ones to (−1, e^p g)', () => {
    const p = 10;
    const small = 1e-6; // < e^−10 ≈ 4.54e-5
    const g = tf.tensor1d([0.5, -2, small, -small, 0, Math.exp(-p)]);
    const [a, b] = preprocess(g, p);
    const first = Array.from(a.dataSync());
    const second = Array.from(b.dataSync());
    expect(first[0]).toBeCloseTo(Math.log(0.5) / p, 6);
    expect(second[0]).toBe(1);
    expect(first[1]).toBeCloseTo(Math.log(2) / p, 6);
    expect(second[1]).toBe(-1);
    expect(first[2]).toBe(-1);
    expect(second[2]).toBeCloseTo(Math.exp(p) * small, 4);
    expect(second[3]).toBeCloseTo(-Math.exp(p) * small, 4);
    expect([first[4], second[4]]).toEqual([-1, 0]);
    expect(first[5]).toBeCloseTo(-1, 5); // the boundary takes the log branch: log(e^−p)/p = −1
    disposeAll([g, a, b]);
  });
});

/** An independent float64 scalar LSTM, coordinate by coordinate, from the same weights. */
function referenceStep(w: L2OWeights, g: number, h: number[][], c: number[][]): { update: number; h: number[][]; c: number[][] } {
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const p = arch.preprocP;
  let input = Math.abs(g) >= Math.exp(-p) ? [Math.log(Math.abs(g)) / p, Math.sign(g)] : [-1, Math.exp(p) * g];
  const H = arch.hidden;
  const hs: number[][] = [];
  const cs: number[][] = [];
  w.layers.forEach((layer, l) => {
    const pre: Record<string, number[]> = {};
    for (const gate of GATES) {
      const wx = layer[gate].wx.arraySync();
      const wh = layer[gate].wh.arraySync();
      const b = layer[gate].b.arraySync();
      pre[gate] = Array.from({ length: H }, (_, j) => {
        let s = b[j]!;
        input.forEach((v, r) => (s += v * wx[r]![j]!));
        h[l]!.forEach((v, r) => (s += v * wh[r]![j]!));
        return s;
      });
    }
    const cNext = Array.from({ length: H }, (_, j) => sig(pre['f']![j]!) * c[l]![j]! + sig(pre['i']![j]!) * Math.tanh(pre['g']![j]!));
    const hNext = cNext.map((cv, j) => sig(pre['o']![j]!) * Math.tanh(cv));
    hs.push(hNext);
    cs.push(cNext);
    input = hNext;
  });
  const hw = w.head.w.arraySync();
  const out = hs[hs.length - 1]!.reduce((s, v, j) => s + v * hw[j]![0]!, w.head.b.arraySync()[0]!);
  return { update: arch.outScale * out, h: hs, c: cs };
}

describe('coordinate-wise LSTM learned optimizer', () => {
  it('matches an independent scalar LSTM on every coordinate over three steps', () => {
    const weights = randomWeights(arch, Rng.seeded(7));
    const opt = l2o(weights);
    const grads = [
      [0.3, -1e-7, 2.5, -0.01],
      [0.1, 0.2, -3, 1e-5],
      [-0.4, 0, 1, 0.05],
    ];
    let x = tf.tensor1d([1, 2, 3, 4]);
    let s = opt.init(x);
    const ref = grads[0]!.map(() => ({ h: [Array(20).fill(0), Array(20).fill(0)], c: [Array(20).fill(0), Array(20).fill(0)], x: 0 }));
    ref.forEach((r, i) => (r.x = i + 1));
    for (const g of grads) {
      const gt = tf.tensor1d(g);
      const [x1, s1] = opt.step(x, gt, s);
      g.forEach((gi, i) => {
        const out = referenceStep(weights, gi, ref[i]!.h, ref[i]!.c);
        ref[i] = { h: out.h, c: out.c, x: ref[i]!.x + out.update };
      });
      const xs = Array.from(x1.dataSync());
      xs.forEach((v, i) => expect(v).toBeCloseTo(ref[i]!.x, 5));
      disposeAll([gt, x, s]);
      x = x1;
      s = s1;
    }
    const h2 = s.h[1]!.arraySync();
    expect(h2[2]![5]).toBeCloseTo(ref[2]!.h[1]![5]!, 5);
    disposeAll([x, s, flattenWeights(weights)]);
  });

  it('starts each coordinate from zero hidden and cell states', () => {
    const opt = l2o(randomWeights(arch, Rng.seeded(1)));
    const s = opt.init(tf.zeros([5]) as tf.Tensor1D);
    expect(s.h.length).toBe(2);
    expect(s.h[0]!.shape).toEqual([5, 20]);
    expect(Math.max(...s.c.flatMap((t) => Array.from(t.dataSync()).map(Math.abs)))).toBe(0);
    disposeAll(s);
  });

  it('draws the same weights from the same seed and different ones otherwise', () => {
    const a = flattenWeights(randomWeights(arch, Rng.seeded(3)));
    const b = flattenWeights(randomWeights(arch, Rng.seeded(3)));
    const c = flattenWeights(randomWeights(arch, Rng.seeded(4)));
    expect(Array.from(a[0]!.dataSync())).toEqual(Array.from(b[0]!.dataSync()));
    expect(Array.from(a[0]!.dataSync())).not.toEqual(Array.from(c[0]!.dataSync()));
    const bound = 1 / Math.sqrt(20);
    expect(Math.max(...a.flatMap((t) => Array.from(t.dataSync()).map(Math.abs)))).toBeLessThanOrEqual(bound);
    disposeAll([a, b, c]);
  });
});

describe('checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lgl2o-ck-'));
  const weights = randomWeights(arch, Rng.seeded(11));
  const encoded = encodeCheckpoint({ architecture: arch, weights, meta: { note: 'test' } }) as Record<string, unknown>;

  it('round-trips weights exactly through JSON', () => {
    const path = join(dir, 'ok.json');
    writeFileSync(path, JSON.stringify(encoded));
    const loaded = loadCheckpoint(path);
    if (E.isLeft(loaded)) throw loaded.left;
    const before = flattenWeights(weights).map((t) => Array.from(t.dataSync()));
    const after = flattenWeights(loaded.right.weights).map((t) => Array.from(t.dataSync()));
    expect(after).toEqual(before);
    expect(loaded.right.meta).toEqual({ note: 'test' });
    disposeAll(flattenWeights(loaded.right.weights));
  });

  const problem = (json: unknown): string => {
    const r = decodeCheckpoint(json, 'ck.json');
    if (E.isRight(r)) throw new Error('expected a decode error');
    return r.left.message;
  };

  it('names a wrong version', () => {
    expect(problem({ ...encoded, version: 2 })).toBe('ck.json: version: expected 1, got 2');
  });

  it('names a weight of the wrong shape', () => {
    const ws = { ...(encoded['weights'] as Record<string, unknown>) };
    ws['layers.0.i.wx'] = { shape: [3, 20], data: Array(60).fill(0) };
    expect(problem({ ...encoded, weights: ws })).toContain('weights.layers.0.i.wx: expected shape [2,20], got [3,20]');
  });

  it('names a missing weight and a wrong format', () => {
    const ws = { ...(encoded['weights'] as Record<string, unknown>) };
    delete ws['head.b'];
    expect(problem({ ...encoded, weights: ws })).toContain('weights.head.b: missing');
    expect(problem({ ...encoded, format: 'other' })).toContain('format');
  });

  it('reports truncated JSON and unreadable files', () => {
    const path = join(dir, 'trunc.json');
    writeFileSync(path, JSON.stringify(encoded).slice(0, 100));
    const r = loadCheckpoint(path);
    expect(E.isLeft(r) && r.left.message).toMatch(/trunc\.json: invalid JSON/);
    const missing = loadCheckpoint(join(dir, 'nope.json'));
    expect(E.isLeft(missing) && missing.left.message).toMatch(/nope\.json: cannot read/);
  });

  it('lists every weight of the architecture', () => {
    expect(weightShapes(arch).length).toBe(2 * 4 * 3 + 2);
    const total = weightShapes(arch).reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1), 0);
    expect(total).toBe(4 * (2 * 20 + 400 + 20) + 4 * (400 + 400 + 20) + 21);
  });
});
