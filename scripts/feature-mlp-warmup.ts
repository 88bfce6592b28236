/**
 * Gives a feature-MLP checkpoint a warm-up: its log step starts `--shift` lower and recovers
 * through the shortest time feature tanh(n / T_min) (b_s − shift, u_s[T_min] + shift), so the first
 * steps are smaller and every step past ~30 is as before (`withWarmUp`, src/l2o/featureMlp.ts):
 *
 *   npx tsx scripts/feature-mlp-warmup.ts --from docs/results/checkpoint/feature-mlp-e3.json --shift 1 --out checkpoints/feature-mlp.json
 *
 * Why: the ES checkpoint's first steps (~0.03 per coordinate, Adam-like) leave 3 of 5 seeds of
 * the conv-mnist CNN at ln 10 for good; the shortest time feature lets the step grow instead.
 */
import * as E from 'fp-ts/lib/Either.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { decodeWith } from '../src/codec/decode.js';
import { withWarmUp } from '../src/l2o/featureMlp.js';
import { FeatureMlpArchitectureCodec, decodeFeatureMlpWeights, encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';

const { values: a } = parseArgs({ options: { from: { type: 'string' }, shift: { type: 'string', default: '1' }, out: { type: 'string' } } });
if (a.from === undefined || a.out === undefined) throw new Error('--from CHECKPOINT and --out FILE are required');
const shift = Number(a.shift);
if (!Number.isFinite(shift)) throw new Error(`--shift ${a.shift}: expected a number`);

const raw = JSON.parse(readFileSync(a.from, 'utf8')) as { architecture: unknown; weights: unknown; handover?: unknown; meta?: Record<string, unknown> };
if (raw.handover !== undefined) throw new Error(`${a.from}: hands over to other weights; warm up the early checkpoint before joining them`);
const arch = decodeWith(FeatureMlpArchitectureCodec, raw.architecture, `${a.from}: architecture`);
if (E.isLeft(arch)) throw arch.left;
const weights = decodeFeatureMlpWeights(arch.right, raw.weights, a.from);
if (E.isLeft(weights)) throw weights.left;
const w = withWarmUp(arch.right, weights.right, shift);
const meta = { ...raw.meta, warmup: { source: `npx tsx scripts/feature-mlp-warmup.ts ${process.argv.slice(2).join(' ')}`, from: a.from, shift } };
writeFileSync(a.out, `${JSON.stringify(encodeFeatureMlpCheckpoint(arch.right, w, meta))}\n`);
const tMin = Math.min(...arch.right.timescales);
const later = 3 * tMin;
process.stderr.write(`wrote ${a.out}: log step lowered by ${shift} at step 0, by ${(shift * (1 - Math.tanh(later / tMin))).toFixed(3)} at step ${later}\n`);
