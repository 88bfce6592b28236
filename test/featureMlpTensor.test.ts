import { describe, expect, it } from 'vitest';
import {
  FEATURE_MLP_ARCHITECTURE as ARCH,
  FEATURE_MLP_WEIGHT_NAMES,
  advanceFeatures,
  featureCount,
  featureMlpUpdate,
  zeroFeatureMlpState,
  zeroFeatureMlpWeights,
} from '../src/l2o/featureMlp.js';
import { featureMlpUpdateTensor } from '../src/l2o/featureMlpTensor.js';
import { Rng } from '../src/tensor/rng.js';

describe('featureMlpUpdateTensor', () => {
  it('gives the per-coordinate loop’s updates to float32 rounding, every weight active, over steps of a run', () => {
    const rng = Rng.seeded(21);
    const w = zeroFeatureMlpWeights(ARCH);
    for (const name of FEATURE_MLP_WEIGHT_NAMES) for (let i = 0; i < w[name].length; i++) w[name][i] = rng.between(-0.8, 0.8);
    const P = 300;
    const state = zeroFeatureMlpState(ARCH, P);
    const features = new Float32Array(P * featureCount(ARCH));
    const [loop, tensor] = [new Float32Array(P), new Float32Array(P)];
    for (let step = 0; step < 5; step++) {
      const g = Float32Array.from({ length: P }, () => rng.normal() * 10 ** rng.between(-4, 1));
      const time = advanceFeatures(ARCH, g, state, features);
      featureMlpUpdate(ARCH, w, features, time, loop);
      featureMlpUpdateTensor(ARCH, w, features, time, tensor);
      const scale = Math.max(...loop.map(Math.abs));
      expect(scale).toBeGreaterThan(0);
      for (let i = 0; i < P; i++) expect(Math.abs(tensor[i]! - loop[i]!)).toBeLessThan(1e-5 * Math.abs(loop[i]!) + 1e-6 * scale);
    }
  });
});
