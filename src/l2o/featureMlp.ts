import type { Rng } from '../tensor/rng.js';

/**
 * The feature-MLP learned optimizer (docs/algorithms.md §3b): per coordinate, Adam-normalised
 * momenta at several decays feed a small MLP that outputs a direction and a log step size; the
 * training step enters through global time features. Odd in the gradient by construction
 * (a flipped gradient history gives the flipped update), so it cannot drift on its own.
 */
export interface FeatureMlpArchitecture {
  readonly kind: 'feature-mlp';
  /** Hidden units of the MLP. */
  readonly hidden: number;
  /** Momentum decays β_k; the features are g and each m̂_k, divided by √v̂ + ε. */
  readonly betas: readonly number[];
  /** Decay of the second moment v. */
  readonly betaV: number;
  readonly epsilon: number;
  /** Time scales T_j of the time features tanh(n / T_j), n the state's clock (1, 2, ...). */
  readonly timescales: readonly number[];
  /** Base step α: update = −α · exp(S · tanh(s / S)) · d. */
  readonly alpha: number;
  /** Bound S on the log step size. */
  readonly logStepBound: number;
  /**
   * Decay β_f of a fast second moment v_f: when set, each coordinate's energy trend
   * ρ = tanh(½ ln((v̂_f + ε²) / (v̂ + ε²))) (its recent squared gradients against their long-run
   * mean) adds u_e · ρ to its log step. Absent: no such input (every checkpoint before it).
   */
  readonly energyDecay?: number;
  /**
   * With an energy trend: its weight varies with the time features, u_e(n) = ue_0 + Σ_j ue_j ·
   * tanh(n / T_j) (ue holds 1 + T values), so the trend can act early and fade late or the reverse.
   * Absent or false: one constant weight.
   */
  readonly energyTimed?: boolean;
}

export const FEATURE_MLP_ARCHITECTURE: FeatureMlpArchitecture = {
  kind: 'feature-mlp',
  hidden: 16,
  betas: [0.5, 0.9, 0.99, 0.999],
  betaV: 0.999,
  epsilon: 1e-8,
  timescales: [10, 100, 1000, 3000],
  alpha: 0.001,
  logStepBound: 5,
};

/** The odd features g/√v̂ and m̂_k/√v̂ the MLP reads. */
export const featureCount = (arch: FeatureMlpArchitecture): number => arch.betas.length + 1;

/** The even per-coordinate inputs that scale the log step: the energy trend ρ, if the architecture has one. */
export const energyCount = (arch: FeatureMlpArchitecture): number => (arch.energyDecay === undefined ? 0 : 1);

/** Values of `ue`: per energy input, a constant, then one per time feature if the weight is timed. */
export const energyWeightCount = (arch: FeatureMlpArchitecture): number => energyCount(arch) * (arch.energyTimed === true ? 1 + arch.timescales.length : 1);

/** Values per coordinate in a features buffer: the odd features, then the energy trend. */
export const featureStride = (arch: FeatureMlpArchitecture): number => featureCount(arch) + energyCount(arch);

/** Weights, each a flat float32 array (row-major for matrices). */
export interface FeatureMlpWeights {
  /** [F, H]: features → hidden pre-activation. */
  readonly w1: Float32Array;
  /** [H]: hidden bias. */
  readonly b1: Float32Array;
  /** [T, H]: time features → hidden bias. */
  readonly u1: Float32Array;
  /** [F]: linear part of the direction. */
  readonly c: Float32Array;
  /** [H]: hidden → direction (applied to h(f) − h(−f)). */
  readonly wd: Float32Array;
  /** [H]: hidden → log step (applied to (h(f) + h(−f)) / 2). */
  readonly ws: Float32Array;
  /** [1]: log-step bias. */
  readonly bs: Float32Array;
  /** [T]: time features → log step. */
  readonly us: Float32Array;
  /** [E] or [E·(1+T)] if `energyTimed`: energy trend → log step (E = 0 without `energyDecay`). */
  readonly ue: Float32Array;
}

export const FEATURE_MLP_WEIGHT_NAMES = ['w1', 'b1', 'u1', 'c', 'wd', 'ws', 'bs', 'us', 'ue'] as const;
export type FeatureMlpWeightName = (typeof FEATURE_MLP_WEIGHT_NAMES)[number];

export function featureMlpShapes(arch: FeatureMlpArchitecture): Record<FeatureMlpWeightName, number[]> {
  const F = featureCount(arch);
  const H = arch.hidden;
  const T = arch.timescales.length;
  return { w1: [F, H], b1: [H], u1: [T, H], c: [F], wd: [H], ws: [H], bs: [1], us: [T], ue: [energyWeightCount(arch)] };
}

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

export function zeroFeatureMlpWeights(arch: FeatureMlpArchitecture): FeatureMlpWeights {
  const shapes = featureMlpShapes(arch);
  const out = {} as Record<FeatureMlpWeightName, Float32Array>;
  for (const name of FEATURE_MLP_WEIGHT_NAMES) out[name] = new Float32Array(size(shapes[name]));
  return out;
}

/**
 * The starting point of meta-training: Adam with β1 = 0.9 and step `lr` (the direction is the
 * m̂_0.9 feature, the log step its constant), the MLP's input weights random and its outputs
 * zero, so the MLP adds nothing until meta-training moves it.
 */
export function adamLikeWeights(arch: FeatureMlpArchitecture, rng: Rng, lr = 0.01): FeatureMlpWeights {
  const w = zeroFeatureMlpWeights(arch);
  const F = featureCount(arch);
  const bound = 1 / Math.sqrt(F);
  for (let i = 0; i < w.w1.length; i++) w.w1[i] = rng.between(-bound, bound);
  for (let i = 0; i < w.b1.length; i++) w.b1[i] = rng.between(-bound, bound);
  const k = arch.betas.indexOf(0.9);
  w.c[k >= 0 ? k + 1 : 0] = 1;
  const S = arch.logStepBound;
  w.bs[0] = S * Math.atanh(Math.log(lr / arch.alpha) / S);
  return w;
}

/**
 * A copy of `w` whose log step starts `shift` lower and recovers through the shortest time
 * feature: b_s − shift and u_s[shortest] + shift, so the log step at clock n is lower by
 * shift · (1 − tanh(n / T_min)) and, past a few T_min, as before.
 */
export function withWarmUp(arch: FeatureMlpArchitecture, w: FeatureMlpWeights, shift: number): FeatureMlpWeights {
  const out = zeroFeatureMlpWeights(arch);
  for (const name of FEATURE_MLP_WEIGHT_NAMES) out[name].set(w[name]);
  out.bs[0]! -= shift;
  out.us[arch.timescales.indexOf(Math.min(...arch.timescales))]! += shift;
  return out;
}

/**
 * Per-coordinate state: momenta [K][P], second moment [P], fast second moment [P] (empty without
 * `energyDecay`); `count` steps since the moments were zeroed (their bias correction), `clock`
 * steps since the run began (the time features). A fresh state has both 0 and each step adds 1
 * to both; only a reset (a guard's restart at another point) zeroes the moments and count while
 * the clock runs on.
 */
export interface FeatureMlpState {
  readonly m: Float32Array[];
  readonly v: Float32Array;
  readonly vFast: Float32Array;
  count: number;
  clock: number;
}

export function zeroFeatureMlpState(arch: FeatureMlpArchitecture, P: number): FeatureMlpState {
  return { m: arch.betas.map(() => new Float32Array(P)), v: new Float32Array(P), vFast: new Float32Array(P * energyCount(arch)), count: 0, clock: 0 };
}

/** The global time features at clock n (steps since the run began). */
export function timeFeatures(arch: FeatureMlpArchitecture, n: number): Float64Array {
  return Float64Array.from(arch.timescales, (T) => Math.tanh(n / T));
}

/**
 * Updates the state with gradient g and writes the inputs of every coordinate into `features`
 * ([P, featureStride], row per coordinate: the odd features, then the energy trend). Returns the
 * time features of this step.
 */
export function advanceFeatures(arch: FeatureMlpArchitecture, g: Float32Array, state: FeatureMlpState, features: Float32Array): Float64Array {
  const P = g.length;
  const K = arch.betas.length;
  const F = K + 1;
  const stride = featureStride(arch);
  if (features.length !== P * stride || state.vFast.length !== P * energyCount(arch))
    throw new Error(
      `feature-mlp: ${P} coordinates need ${P * stride} feature values and ${P * energyCount(arch)} fast moments, got ${features.length} and ${state.vFast.length}`,
    );
  const n = ++state.count;
  const clock = ++state.clock;
  const vCorr = 1 / (1 - Math.pow(arch.betaV, n));
  const mCorr = arch.betas.map((b) => 1 / (1 - Math.pow(b, n)));
  const { v, m, vFast } = state;
  const bv = arch.betaV;
  const bf = arch.energyDecay;
  const fastCorr = bf === undefined ? 0 : 1 / (1 - Math.pow(bf, n));
  const eps2 = arch.epsilon * arch.epsilon;
  for (let i = 0; i < P; i++) {
    const gi = g[i]!;
    const vi = bv * v[i]! + (1 - bv) * gi * gi;
    v[i] = vi;
    const r = 1 / (Math.sqrt(vi * vCorr) + arch.epsilon);
    const row = i * stride;
    features[row] = gi * r;
    if (bf !== undefined) {
      const fi = bf * vFast[i]! + (1 - bf) * gi * gi;
      vFast[i] = fi;
      features[row + F] = Math.tanh(0.5 * Math.log((fi * fastCorr + eps2) / (vi * vCorr + eps2)));
    }
    for (let k = 0; k < K; k++) {
      const b = arch.betas[k]!;
      const mk = m[k]!;
      const mi = b * mk[i]! + (1 - b) * gi;
      mk[i] = mi;
      features[row + k + 1] = mi * mCorr[k]! * r;
    }
  }
  return timeFeatures(arch, clock);
}

/** This step's hidden bias, log-step bias and energy-trend weight (the time features folded in). */
export function stepBiases(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  time: Float64Array,
): { hiddenBias: Float64Array; logStepBias: number; energyWeight: number } {
  const H = arch.hidden;
  const hiddenBias = Float64Array.from(w.b1);
  for (let j = 0; j < time.length; j++) for (let h = 0; h < H; h++) hiddenBias[h]! += time[j]! * w.u1[j * H + h]!;
  let logStepBias = w.bs[0]!;
  for (let j = 0; j < time.length; j++) logStepBias += time[j]! * w.us[j]!;
  let energyWeight = w.ue[0] ?? 0;
  if (arch.energyTimed === true) for (let j = 0; j < time.length; j++) energyWeight += time[j]! * w.ue[1 + j]!;
  return { hiddenBias, logStepBias, energyWeight };
}

/** One step's weights and biases, as the per-coordinate pass reads them. */
interface StepNetwork {
  readonly F: number;
  /** Values per coordinate in the features buffer (F, then the energy trend if any). */
  readonly stride: number;
  readonly H: number;
  readonly w: FeatureMlpWeights;
  readonly hiddenBias: Float64Array;
  readonly logStepBias: number;
  readonly energyWeight: number;
}

/**
 * The network on the features of the coordinate starting at `row`: fills the hidden units
 * h(f) (`plus`) and h(−f) (`minus`) and writes the direction d and log step s to `out`.
 */
function coordinateOutputs(
  net: StepNetwork,
  features: Float32Array,
  row: number,
  proj: Float64Array,
  plus: Float64Array,
  minus: Float64Array,
  out: Float64Array,
): void {
  const { F, H, hiddenBias } = net;
  const { w1, c, wd, ws } = net.w;
  let d = 0;
  proj.fill(0);
  for (let f = 0; f < F; f++) {
    const x = features[row + f]!;
    d += c[f]! * x;
    const wr = f * H;
    for (let h = 0; h < H; h++) proj[h]! += w1[wr + h]! * x;
  }
  let s = net.logStepBias;
  if (net.stride > F) s += net.energyWeight * features[row + F]!;
  for (let h = 0; h < H; h++) {
    const hb = hiddenBias[h]!;
    plus[h] = Math.max(0, hb + proj[h]!);
    minus[h] = Math.max(0, hb - proj[h]!);
    d += wd[h]! * (plus[h]! - minus[h]!);
    s += ws[h]! * 0.5 * (plus[h]! + minus[h]!);
  }
  out[0] = d;
  out[1] = s;
}

/** The step's network and the scratch arrays of the per-coordinate pass. */
function stepNetwork(arch: FeatureMlpArchitecture, w: FeatureMlpWeights, time: Float64Array) {
  const H = arch.hidden;
  const net: StepNetwork = { F: featureCount(arch), stride: featureStride(arch), H, w, ...stepBiases(arch, w, time) };
  return { net, proj: new Float64Array(H), plus: new Float64Array(H), minus: new Float64Array(H), out: new Float64Array(2) };
}

/** A way to compute every coordinate's update from its features (the loop below or featureMlpTensor.ts). */
export type FeatureMlpUpdateRule = (
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  features: Float32Array,
  time: Float64Array,
  update: Float32Array,
) => void;

/**
 * The update of every coordinate from its features: u = −α · exp(S tanh(s/S)) · d with
 * d = c·f + wd·(h(f) − h(−f)), s = ws·(h(f) + h(−f))/2 + bias, h(f) = relu(W1ᵀf + bias).
 */
export function featureMlpUpdate(arch: FeatureMlpArchitecture, w: FeatureMlpWeights, features: Float32Array, time: Float64Array, update: Float32Array): void {
  const S = arch.logStepBound;
  const { net, proj, plus, minus, out } = stepNetwork(arch, w, time);
  for (let i = 0; i < update.length; i++) {
    coordinateOutputs(net, features, i * net.stride, proj, plus, minus, out);
    update[i] = -arch.alpha * Math.exp(S * Math.tanh(out[1]! / S)) * out[0]!;
  }
}

/**
 * Adds to `grad` the gradient of Σ_i adjoint_i · u_i with respect to the weights, u the update
 * `featureMlpUpdate` computes from these features (reverse mode, by hand; test/featureMlp.test.ts
 * checks it against finite differences).
 */
export function featureMlpBackward(
  arch: FeatureMlpArchitecture,
  w: FeatureMlpWeights,
  features: Float32Array,
  time: Float64Array,
  adjoint: Float32Array,
  grad: FeatureMlpWeights,
): void {
  const P = adjoint.length;
  const S = arch.logStepBound;
  const { net, proj, plus, minus, out } = stepNetwork(arch, w, time);
  const { F, H, stride } = net;
  const { wd, ws } = w;
  let gEnergy = 0;
  const gW1 = new Float64Array(F * H);
  const gHiddenBias = new Float64Array(H);
  const gc = new Float64Array(F);
  const gwd = new Float64Array(H);
  const gws = new Float64Array(H);
  let gLogStepBias = 0;
  for (let i = 0; i < P; i++) {
    const a = adjoint[i]!;
    if (a === 0) continue;
    const row = i * stride;
    coordinateOutputs(net, features, row, proj, plus, minus, out);
    const d = out[0]!;
    const th = Math.tanh(out[1]! / S);
    const scale = -arch.alpha * Math.exp(S * th);
    const u = scale * d;
    const dD = a * scale;
    const dS = a * u * (1 - th * th);
    gLogStepBias += dS;
    if (stride > F) gEnergy += dS * features[row + F]!;
    for (let f = 0; f < F; f++) gc[f]! += dD * features[row + f]!;
    for (let h = 0; h < H; h++) {
      gwd[h]! += dD * (plus[h]! - minus[h]!);
      gws[h]! += dS * 0.5 * (plus[h]! + minus[h]!);
      const dPlus = plus[h]! > 0 ? dD * wd[h]! + 0.5 * dS * ws[h]! : 0;
      const dMinus = minus[h]! > 0 ? -dD * wd[h]! + 0.5 * dS * ws[h]! : 0;
      gHiddenBias[h]! += dPlus + dMinus;
      const dProj = dPlus - dMinus;
      if (dProj !== 0) for (let f = 0; f < F; f++) gW1[f * H + h]! += dProj * features[row + f]!;
    }
  }
  for (let k = 0; k < gW1.length; k++) grad.w1[k]! += gW1[k]!;
  for (let h = 0; h < H; h++) {
    grad.b1[h]! += gHiddenBias[h]!;
    grad.wd[h]! += gwd[h]!;
    grad.ws[h]! += gws[h]!;
    for (let j = 0; j < time.length; j++) grad.u1[j * H + h]! += time[j]! * gHiddenBias[h]!;
  }
  for (let f = 0; f < F; f++) grad.c[f]! += gc[f]!;
  grad.bs[0]! += gLogStepBias;
  if (stride > F) grad.ue[0]! += gEnergy;
  if (stride > F && arch.energyTimed === true) for (let j = 0; j < time.length; j++) grad.ue[1 + j]! += time[j]! * gEnergy;
  for (let j = 0; j < time.length; j++) grad.us[j]! += time[j]! * gLogStepBias;
}
