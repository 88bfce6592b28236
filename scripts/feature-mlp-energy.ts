/**
 * Gives a feature-MLP checkpoint the energy trend input (docs/algorithms.md §2b): the architecture
 * gains `energyDecay`, the weights `ue` (the trend's weight on the log step):
 *
 *   npx tsx scripts/feature-mlp-energy.ts --from checkpoints/feature-mlp.json --decay 0.9 --ue 0 --out with-energy.json
 *
 * With `--ue 0` the new checkpoint steps exactly as the old one; evolution strategies
 * (`scripts/es-feature-mlp.ts --tune ue,…`) or a probe of a few `--ue` values then say whether
 * the input pays.
 */
import * as E from 'fp-ts/lib/Either.js';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { zeroFeatureMlpWeights, FEATURE_MLP_WEIGHT_NAMES } from '../src/l2o/featureMlp.js';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { loadFeatureMlpCheckpoint } from '../src/l2o/weightsFile.js';

const { values: a } = parseArgs({
  options: { from: { type: 'string' }, decay: { type: 'string', default: '0.9' }, ue: { type: 'string', default: '0' }, out: { type: 'string' } },
});
if (a.from === undefined || a.out === undefined) throw new Error('--from CHECKPOINT and --out FILE are required');
const decay = Number(a.decay);
const ue = Number(a.ue);
if (!(decay > 0 && decay < 1)) throw new Error(`--decay ${a.decay}: expected a decay between 0 and 1`);
if (!Number.isFinite(ue)) throw new Error(`--ue ${a.ue}: expected a number`);

const loaded = loadFeatureMlpCheckpoint(a.from);
if (E.isLeft(loaded)) throw loaded.left;
const { architecture, weights, handover } = loaded.right;
if (handover !== undefined) throw new Error(`${a.from}: hands over to other weights at step ${handover.from}; give the energy trend to each part first`);
if (architecture.energyDecay !== undefined) throw new Error(`${a.from}: already has an energy trend (decay ${architecture.energyDecay})`);

const arch = { ...architecture, energyDecay: decay };
const out = zeroFeatureMlpWeights(arch);
for (const name of FEATURE_MLP_WEIGHT_NAMES) if (name !== 'ue') out[name].set(weights[name]);
out.ue[0] = ue;
const meta = { energy: { source: `npx tsx scripts/feature-mlp-energy.ts ${process.argv.slice(2).join(' ')}`, from: a.from, decay, ue } };
writeFileSync(a.out, `${JSON.stringify(encodeFeatureMlpCheckpoint(arch, out, meta))}\n`);
process.stderr.write(`wrote ${a.out}: ${a.from} with the energy trend (decay ${decay}, weight ${ue})\n`);
