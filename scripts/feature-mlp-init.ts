/**
 * A feature-MLP starting point: Adam (β1 = 0.9, β2 = 0.999) whose step follows
 * lr0 / √(1 + n / decay) through the time features, the MLP adding nothing yet:
 *
 *   npx tsx scripts/feature-mlp-init.ts --lr0 0.03 --decay 100 --out results/init-decay.json
 *
 * The log-step weights (b_s, u_s) are the least-squares fit, over 400 log-spaced steps in
 * [1, 3000], of S·atanh(log(step / α) / S); the largest error of the fitted step is printed.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { FEATURE_MLP_ARCHITECTURE as arch, adamLikeWeights } from '../src/l2o/featureMlp.js';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { Rng } from '../src/tensor/rng.js';

const { values: a } = parseArgs({
  options: {
    lr0: { type: 'string', default: '0.03' },
    decay: { type: 'string', default: '100' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
  },
});
if (a.out === undefined) throw new Error('--out FILE is required');
const [lr0, decay] = [Number(a.lr0), Number(a.decay)];
const S = arch.logStepBound;
const step = (n: number) => lr0 / Math.sqrt(1 + n / decay);
const row = (n: number) => [1, ...arch.timescales.map((T) => Math.tanh(n / T))];
const ns = [...new Set(Array.from({ length: 400 }, (_, i) => Math.round(Math.pow(3000, i / 399))))];

// Normal equations XᵀX c = Xᵀy, solved by Gaussian elimination with partial pivoting.
const k = arch.timescales.length + 1;
const A = Array.from({ length: k }, () => new Array<number>(k + 1).fill(0));
for (const n of ns) {
  const x = row(n);
  const y = S * Math.atanh(Math.log(step(n) / arch.alpha) / S);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) A[i]![j]! += x[i]! * x[j]!;
    A[i]![k]! += x[i]! * y;
  }
}
for (let c = 0; c < k; c++) {
  const p = A.reduce((best, r, i) => (i >= c && Math.abs(r[c]!) > Math.abs(A[best]![c]!) ? i : best), c);
  [A[c], A[p]] = [A[p]!, A[c]!];
  for (let r = 0; r < k; r++) {
    if (r === c) continue;
    const f = A[r]![c]! / A[c]![c]!;
    for (let j = c; j <= k; j++) A[r]![j]! -= f * A[c]![j]!;
  }
}
const coef = A.map((r, i) => r[k]! / r[i]!);

const w = adamLikeWeights(arch, Rng.seeded(Number(a.seed) + 50_021), lr0);
w.bs[0] = coef[0]!;
coef.slice(1).forEach((v, j) => (w.us[j] = v));
const fitted = (n: number) => arch.alpha * Math.exp(S * Math.tanh(row(n).reduce((s, x, i) => s + x * coef[i]!, 0) / S));
const worst = Math.max(...ns.map((n) => Math.abs(Math.log(fitted(n) / step(n)))));
writeFileSync(
  a.out,
  `${JSON.stringify(encodeFeatureMlpCheckpoint(arch, w, { source: `npx tsx scripts/feature-mlp-init.ts ${process.argv.slice(2).join(' ')}`, lr0, decay }))}\n`,
);
process.stderr.write(`wrote ${a.out}: step ${lr0}/√(1 + n/${decay}) fitted within a factor e^${worst.toFixed(3)} on [1, 3000]\n`);
