/**
 * Gives a feature-MLP checkpoint the energy trend input (docs/algorithms.md §2b): the architecture
 * gains `energyDecay`, the weights `ue` (the trend's weight on the log step):
 *
 *   npx tsx scripts/feature-mlp-energy.ts --from checkpoints/feature-mlp.json --decay 0.9 --ue 0 --out with-energy.json
 *
 * `--ue-time a,b,…` (one value per time feature) makes the weight vary with time,
 * u_e(n) = ue + Σ_j ue_j · tanh(n / T_j) (`energyTimed`); given a checkpoint that has the trend
 * already, it keeps the trend's decay and (unless `--ue` is given) its weight, and adds the time weights.
 *
 * With `--ue 0` (or `--ue-time 0,…,0`) the new checkpoint steps exactly as the old one; evolution
 * strategies (`scripts/es-feature-mlp.ts --tune ue,…`) or a probe of a few values then say whether
 * the input pays.
 */
import * as E from 'fp-ts/lib/Either.js';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { zeroFeatureMlpWeights, FEATURE_MLP_WEIGHT_NAMES } from '../src/l2o/featureMlp.js';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { loadFeatureMlpCheckpoint } from '../src/l2o/weightsFile.js';

const { values: a } = parseArgs({
  options: { from: { type: 'string' }, decay: { type: 'string' }, ue: { type: 'string' }, 'ue-time': { type: 'string' }, out: { type: 'string' } },
});
if (a.from === undefined || a.out === undefined) throw new Error('--from CHECKPOINT and --out FILE are required');

const loaded = loadFeatureMlpCheckpoint(a.from);
if (E.isLeft(loaded)) throw loaded.left;
const { architecture, weights, handover } = loaded.right;
if (handover !== undefined) throw new Error(`${a.from}: hands over to other weights at step ${handover.from}; give the energy trend to each part first`);
const had = architecture.energyDecay;
if (architecture.energyTimed === true) throw new Error(`${a.from}: its energy trend's weight is timed already`);
if (had !== undefined && a['ue-time'] === undefined)
  throw new Error(`${a.from}: already has an energy trend (decay ${had}); --ue-time gives its weight time dependence`);
if (had !== undefined && a.decay !== undefined) throw new Error(`--decay ${a.decay}: ${a.from} has an energy trend of decay ${had} already`);

const decay = had ?? Number(a.decay ?? '0.9');
const ue = a.ue !== undefined ? Number(a.ue) : had !== undefined ? weights.ue[0]! : 0;
const T = architecture.timescales.length;
const ueTime = a['ue-time']?.split(',').map(Number);
if (!(decay > 0 && decay < 1)) throw new Error(`--decay ${a.decay}: expected a decay between 0 and 1`);
if (!Number.isFinite(ue)) throw new Error(`--ue ${a.ue}: expected a number`);
if (ueTime !== undefined && (ueTime.length !== T || !ueTime.every(Number.isFinite)))
  throw new Error(`--ue-time ${a['ue-time']}: expected ${T} numbers, one per time feature (timescales ${architecture.timescales.join(', ')})`);

const arch = { ...architecture, energyDecay: decay, ...(ueTime && { energyTimed: true }) };
const out = zeroFeatureMlpWeights(arch);
for (const name of FEATURE_MLP_WEIGHT_NAMES) if (name !== 'ue') out[name].set(weights[name]);
out.ue.set([ue, ...(ueTime ?? [])]);
const meta = {
  energy: { source: `npx tsx scripts/feature-mlp-energy.ts ${process.argv.slice(2).join(' ')}`, from: a.from, decay, ue, ...(ueTime && { ueTime }) },
};
writeFileSync(a.out, `${JSON.stringify(encodeFeatureMlpCheckpoint(arch, out, meta))}\n`);
process.stderr.write(`wrote ${a.out}: ${a.from} with the energy trend (decay ${decay}, weight ${ue}${ueTime ? `, time weights ${ueTime.join(', ')}` : ''})\n`);
