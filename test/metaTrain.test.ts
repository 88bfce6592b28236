import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { leastSquaresData } from '../src/data/leastSquares.js';
import { gather } from '../src/data/dataset.js';
import { backwardFM, forwardFM, packFM, toFM, unpackGradFM, disposeCache, packedTensors } from '../src/meta/lstmBackprop.js';
import { lstmStep, zeroState, type L2OState } from '../src/l2o/lstm.js';
import { activeKernels, setFastKernels, setKernelBuild } from '../src/engine/instance.js';
import { configureParallel, DEFAULT_CHUNK, DEFAULT_MIN_PARALLEL, sharedKernels } from '../src/engine/parallel.js';
import { episodeStart, disposeWindowStart, metaWindow, type MetaLossKind } from '../src/meta/window.js';
import { setSavedGates } from '../src/meta/sharedWindow.js';
import { flattenWeights, randomWeights, unflattenWeights, type L2OArchitecture } from '../src/l2o/weights.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import type { TensorBatch } from '../src/optimizee/objective.js';
import { leastSquares } from '../src/optimizee/quadratic.js';
import { Rng } from '../src/tensor/rng.js';
import { disposeAll } from '../src/tensor/state.js';

const ARCH_6: L2OArchitecture = { hidden: 6, layers: 2, preprocP: 10, outScale: 0.1 };
const ARCH = ARCH_6;
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!);
const maxAbs = (a: tf.Tensor) => tf.tidy(() => a.abs().max().dataSync()[0]!);

/** A random [d, H] state, so that every path of the step carries signal. */
function randomState(arch: L2OArchitecture, d: number, rng: Rng): L2OState {
  const r = () =>
    tf.tensor2d(
      Float32Array.from({ length: d * arch.hidden }, () => 0.5 * rng.normal()),
      [d, arch.hidden],
    );
  return { h: [r(), r()], c: [r(), r()] };
}

describe('feature-major LSTM with a hand-written backward', () => {
  it('computes the same update and state as lstmStep', () => {
    const rng = Rng.seeded(3);
    const d = 9;
    const list = flattenWeights(randomWeights(ARCH, rng));
    // gradients spanning both preprocessing branches (|g| below and above e^−10)
    const g = tf.tensor1d([0.3, -2, 1e-6, -3e-5, 0, 5e-3, -0.7, 12, 1e-9]);
    const state = randomState(ARCH, d, rng);
    const ref = lstmStep(unflattenWeights(ARCH, list), ARCH, g, state);
    const p = packFM(ARCH, list);
    const fm = forwardFM(p, ARCH, g, toFM(state));
    expect(maxAbsDiff(fm.update, ref.update)).toBeLessThan(1e-6);
    for (let l = 0; l < 2; l++) {
      expect(maxAbsDiff(fm.state.h[l]!.transpose(), ref.state.h[l]!)).toBeLessThan(1e-6);
      expect(maxAbsDiff(fm.state.c[l]!.transpose(), ref.state.c[l]!)).toBeLessThan(1e-6);
    }
    disposeCache(fm.cache);
    disposeAll([list, g, state, ref, packedTensors(p), fm.update, fm.state]);
  });

  it('its hand-written backward equals tf.grads through lstmStep', () => {
    const rng = Rng.seeded(4);
    const d = 7;
    const list = flattenWeights(randomWeights(ARCH, rng));
    const g = tf.tensor1d(Float32Array.from({ length: d }, () => 0.1 * rng.normal()));
    const state = randomState(ARCH, d, rng);
    const dU = tf.tensor1d(Float32Array.from({ length: d }, () => rng.normal()));
    const dNext = randomState(ARCH, d, rng);
    const n = list.length;
    // reference: gradient of ⟨dU, u⟩ + Σ⟨dh, h'⟩ + ⟨dc, c'⟩ with respect to weights and state
    const ref = tf.grads((...xs: tf.Tensor[]) => {
      const s = { h: xs.slice(n, n + 2) as tf.Tensor2D[], c: xs.slice(n + 2) as tf.Tensor2D[] };
      const out = lstmStep(unflattenWeights(ARCH, xs.slice(0, n)), ARCH, g, s);
      let total = out.update.mul(dU).sum();
      for (let l = 0; l < 2; l++) total = total.add(out.state.h[l]!.mul(dNext.h[l]!).sum()).add(out.state.c[l]!.mul(dNext.c[l]!).sum());
      return total as tf.Scalar;
    })([...list, ...state.h, ...state.c]);
    const p = packFM(ARCH, list);
    const fm = forwardFM(p, ARCH, g, toFM(state));
    const { grads, dPrev } = backwardFM(p, ARCH, fm.cache, dU, toFM(dNext), true);
    const mine = unpackGradFM(ARCH, grads);
    mine.forEach((t, i) => expect(maxAbsDiff(t, ref[i]!), `weight ${i}`).toBeLessThan(2e-5 * Math.max(1, maxAbs(ref[i]!))));
    for (let l = 0; l < 2; l++) {
      expect(maxAbsDiff(dPrev!.h[l]!.transpose(), ref[n + l]!)).toBeLessThan(2e-5);
      expect(maxAbsDiff(dPrev!.c[l]!.transpose(), ref[n + 2 + l]!)).toBeLessThan(2e-5);
    }
    disposeCache(fm.cache);
    disposeAll([list, g, state, dU, dNext, ref, packedTensors(p), fm.update, fm.state, packedTensors(grads), dPrev, mine]);
  });
});

/** A small least-squares problem and T + 1 batches of it. */
function problem(dim: number, batches: number, seed: number) {
  const data = leastSquaresData({ dim, count: 256, noise: 0.1 }, seed);
  const rng = Rng.seeded(seed + 1);
  const tb: TensorBatch[] = Array.from({ length: batches }, () => toTensorBatch([gather(data.train, rng.permutation(256).subarray(0, 16))]));
  return { objective: leastSquares(dim), batches: tb };
}

/**
 * The first-order meta-loss as a plain function of the weights: the LSTM sees the gradients
 * recorded along the trajectory of `w0` (constants), the losses are taken at the actual points.
 */
function frozenMetaLoss(
  objective: ReturnType<typeof leastSquares>,
  arch: L2OArchitecture,
  x0: tf.Tensor1D,
  batches: readonly TensorBatch[],
  T: number,
  kind: MetaLossKind,
  frozen: readonly tf.Tensor1D[],
  log = false,
) {
  const term = (f: number) => (log ? Math.log(f) : f);
  return (weights: readonly tf.Tensor[]): number =>
    tf.tidy(() => {
      const w = unflattenWeights(arch, weights);
      let x = x0;
      let s = zeroState(arch, x0.shape[0]);
      let total = 0;
      for (let t = 0; t < T; t++) {
        total += term(objective.perExampleLoss(x, batches[t]!).mean().dataSync()[0]!);
        const out = lstmStep(w, arch, frozen[t]!, s);
        x = x.add(out.update) as tf.Tensor1D;
        s = out.state;
      }
      if (kind === 'final') total += term(objective.perExampleLoss(x, batches[T]!).mean().dataSync()[0]!);
      return total;
    });
}

function recordGradients(
  objective: ReturnType<typeof leastSquares>,
  arch: L2OArchitecture,
  weights: readonly tf.Tensor[],
  x0: tf.Tensor1D,
  batches: readonly TensorBatch[],
  T: number,
): tf.Tensor1D[] {
  const w = unflattenWeights(arch, weights);
  const out: tf.Tensor1D[] = [];
  tf.tidy(() => {
    let x = x0;
    let s = zeroState(arch, x0.shape[0]);
    for (let t = 0; t < T; t++) {
      const g = tf.grad((y: tf.Tensor) => objective.perExampleLoss(y as tf.Tensor1D, batches[t]!).mean())(x) as tf.Tensor1D;
      out.push(tf.keep(g));
      const step = lstmStep(w, arch, g, s);
      x = x.add(step.update) as tf.Tensor1D;
      s = step.state;
    }
  });
  return out;
}

// Hidden 6: the backward of tfjs ops (lstmBackprop.ts); hidden 8: the fused wasm kernels (H a multiple of 4).
const ARCH_KERNEL: L2OArchitecture = { hidden: 8, layers: 2, preprocP: 10, outScale: 0.1 };
for (const ARCH of [ARCH_6, ARCH_KERNEL])
  describe(`metaWindow, hidden ${ARCH.hidden}`, () => {
    for (const [kind, log] of [
      ['window', false],
      ['final', false],
      ['final', true],
    ] as const) {
      it(`the meta-gradient of a 2-step window (${kind}${log ? ', log terms' : ''}) matches central finite differences`, () => {
        const dim = 5;
        const T = 2;
        const { objective, batches } = problem(dim, T + 1, 10);
        const rng = Rng.seeded(11);
        const weights = flattenWeights(randomWeights(ARCH, rng));
        const x0 = objective.init(rng);
        const start = episodeStart(ARCH, x0);
        const result = metaWindow(objective, ARCH, weights, start, kind === 'final' ? batches : batches.slice(0, T), { lossKind: kind, logLoss: log });
        const frozen = recordGradients(objective, ARCH, weights, x0, batches, T);
        const f = frozenMetaLoss(objective, ARCH, x0, batches, T, kind, frozen, log);
        expect(result.metaLoss).toBeCloseTo(f(weights), 4);
        // directional derivatives along random directions, and along single coordinates
        const eps = 1e-2;
        for (let trial = 0; trial < 4; trial++) {
          const dirs = weights.map((w) =>
            tf.tensor(
              Float32Array.from({ length: w.size }, () => (trial < 2 ? rng.normal() : rng.uniform() < 0.05 ? 1 : 0)),
              w.shape,
            ),
          );
          const plus = weights.map((w, i) => w.add(dirs[i]!.mul(eps)));
          const minus = weights.map((w, i) => w.sub(dirs[i]!.mul(eps)));
          const fd = (f(plus) - f(minus)) / (2 * eps);
          const analytic = result.grads.reduce((acc, g, i) => acc + tf.tidy(() => g.mul(dirs[i]!).sum().dataSync()[0]!), 0);
          expect(Math.abs(analytic - fd), `trial ${trial}: analytic ${analytic}, fd ${fd}`).toBeLessThan(2e-5 + 3e-3 * Math.abs(fd));
          disposeAll([dirs, plus, minus]);
        }
        // the window's losses are those of the trajectory (the first is f(x0)), logs or not
        expect(result.losses[0]).toBeCloseTo(objective.perExampleLoss(x0, batches[0]!).mean().dataSync()[0]!, 5);
        disposeAll([weights, x0, result.grads, frozen]);
        disposeWindowStart(start);
        disposeWindowStart(result.end);
        batches.forEach(disposeTensorBatch);
      });
    }

    it('the fused and autodiff backward passes agree over a 4-step window, and leave no tensors behind', () => {
      const { objective, batches } = problem(6, 5, 20);
      const rng = Rng.seeded(21);
      const weights = flattenWeights(randomWeights(ARCH, rng));
      const x0 = objective.init(rng);
      const start = episodeStart(ARCH, x0);
      const before = tf.memory().numTensors;
      const a = metaWindow(objective, ARCH, weights, start, batches, { lossKind: 'final', backward: 'fused' });
      const b = metaWindow(objective, ARCH, weights, start, batches, { lossKind: 'final', backward: 'autodiff' });
      expect(a.metaLoss).toBeCloseTo(b.metaLoss, 5);
      a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!)).toBeLessThan(1e-5 * Math.max(1, maxAbs(g))));
      expect(maxAbsDiff(a.end.x, b.end.x)).toBeLessThan(1e-6);
      for (const r of [a, b]) {
        disposeAll(r.grads);
        disposeWindowStart(r.end);
      }
      expect(tf.memory().numTensors).toBe(before);
      disposeAll([weights, x0]);
      disposeWindowStart(start);
      batches.forEach(disposeTensorBatch);
    });
  });

describe('metaWindow on the wasm kernels', () => {
  it('equals the backward of tfjs ops (kernels off) over a 5-step window with an incoming state', () => {
    const { objective, batches } = problem(40, 6, 30);
    const rng = Rng.seeded(31);
    const weights = flattenWeights(randomWeights(ARCH_KERNEL, rng));
    const x0 = objective.init(rng);
    const zero = episodeStart(ARCH_KERNEL, x0);
    expect(activeKernels(), 'the wasm kernels run here').not.toBeNull();
    const first = metaWindow(objective, ARCH_KERNEL, weights, zero, batches.slice(0, 3));
    // the second window starts from a nonzero LSTM state, so the state's adjoint matters
    const a = metaWindow(objective, ARCH_KERNEL, weights, first.end, batches, { lossKind: 'final' });
    setFastKernels(false);
    const b = metaWindow(objective, ARCH_KERNEL, weights, first.end, batches, { lossKind: 'final' });
    setFastKernels(true);
    expect(a.metaLoss).toBeCloseTo(b.metaLoss, 4);
    a.grads.forEach((g, i) => expect(maxAbsDiff(g, b.grads[i]!), `weight ${i}`).toBeLessThan(1e-4 * Math.max(1, maxAbs(b.grads[i]!))));
    expect(maxAbsDiff(a.end.x, b.end.x)).toBeLessThan(1e-5);
    for (let l = 0; l < 2; l++) expect(maxAbsDiff(a.end.lstm.c[l]!, b.end.lstm.c[l]!)).toBeLessThan(1e-5);
    for (const r of [first, a, b]) {
      disposeAll(r.grads);
      disposeWindowStart(r.end);
    }
    disposeAll([weights, x0]);
    disposeWindowStart(zero);
    batches.forEach(disposeTensorBatch);
  });
});

describe('metaWindow on two threads (shared memory, chunks of coordinates)', () => {
  afterEach(() => configureParallel({ enabled: true, minCoordinates: DEFAULT_MIN_PARALLEL, chunk: DEFAULT_CHUNK, workerFirst: false }));

  const run = (threads: 1 | 2, savedGates: boolean) => {
    // 300 coordinates in chunks of 16: 19 chunks, each with its own weight-gradient accumulator
    configureParallel({ enabled: threads === 2, minCoordinates: 1, chunk: 16, workerFirst: threads === 2 });
    setSavedGates(savedGates);
    const { objective, batches } = problem(300, 6, 30);
    const rng = Rng.seeded(41);
    const weights = flattenWeights(randomWeights(ARCH_KERNEL, rng));
    const x0 = objective.init(rng);
    const zero = episodeStart(ARCH_KERNEL, x0);
    const first = metaWindow(objective, ARCH_KERNEL, weights, zero, batches.slice(0, 3));
    const before = sharedKernels()!.workerChunks();
    const result = metaWindow(objective, ARCH_KERNEL, weights, first.end, batches, { lossKind: 'final' });
    const workerChunks = sharedKernels()!.workerChunks() - before;
    const autodiff = metaWindow(objective, ARCH_KERNEL, weights, first.end, batches, { lossKind: 'final', backward: 'autodiff' });
    const out = {
      metaLoss: result.metaLoss,
      grads: result.grads.map((g) => Array.from(g.dataSync())),
      x: Array.from(result.end.x.dataSync()),
      c: result.end.lstm.c.map((t) => Array.from(t.dataSync())),
      workerChunks,
    };
    result.grads.forEach((g, i) => expect(maxAbsDiff(g, autodiff.grads[i]!), `weight ${i}`).toBeLessThan(1e-4 * Math.max(1, maxAbs(autodiff.grads[i]!))));
    for (const r of [first, result, autodiff]) {
      disposeAll(r.grads);
      disposeWindowStart(r.end);
    }
    disposeAll([weights, x0]);
    disposeWindowStart(zero);
    batches.forEach(disposeTensorBatch);
    return out;
  };

  it.each(['plain', 'relaxed'] as const)(
    'gives the meta-gradient of one thread exactly, with saved or recomputed gates, and that of tf.grads (%s build)',
    (build) => {
      setKernelBuild(build);
      const one = run(1, false);
      const two = run(2, false);
      // the backward reading the gates the forward saved, instead of recomputing them: the same numbers
      const saved = run(2, true);
      setSavedGates(true);
      expect(one.workerChunks).toBe(0);
      // 4 forward + 4 backward steps: the worker took a chunk of each
      expect(two.workerChunks).toBeGreaterThanOrEqual(8);
      for (const other of [two, saved]) {
        expect(other.metaLoss).toBe(one.metaLoss);
        expect(other.grads).toEqual(one.grads);
        expect(other.x).toEqual(one.x);
        expect(other.c).toEqual(one.c);
      }
      setKernelBuild('auto');
    },
  );
});
