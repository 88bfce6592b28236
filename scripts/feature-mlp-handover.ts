/**
 * Joins two feature-MLP checkpoints of one architecture into one that hands over from the first
 * to the second as its clock runs: `--early`'s weights to step `--from`, `--late`'s from step `--to`
 * on, mixed in between (src/l2o/featureMlpHandover.ts):
 *
 *   npx tsx scripts/feature-mlp-handover.ts --early EARLY.json --late checkpoints/feature-mlp.json --from 500 --to 600 --out FILE
 *
 * Why: weights tuned for the anchored guard's early rounds trail SGDnm in a long run of their
 * own, weights tuned for that run keep too little of the guard's early lead (checkpoints/README.md).
 */
import * as E from 'fp-ts/lib/Either.js';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { loadFeatureMlpCheckpoint } from '../src/l2o/weightsFile.js';
import type { FeatureMlpCheckpoint } from '../src/l2o/weightsCodec.js';

const { values: a } = parseArgs({
  options: { early: { type: 'string' }, late: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, out: { type: 'string' } },
});
if (a.early === undefined || a.late === undefined || a.from === undefined || a.to === undefined || a.out === undefined)
  throw new Error('--early CHECKPOINT --late CHECKPOINT --from STEP --to STEP --out FILE are required');
const [from, to] = [Number(a.from), Number(a.to)];
if (!(Number.isInteger(from) && from >= 0)) throw new Error(`--from ${a.from}: expected a whole step ≥ 0`);
if (!(Number.isInteger(to) && to > from)) throw new Error(`--to ${a.to}: expected a whole step after --from (${from})`);

function single(path: string): FeatureMlpCheckpoint {
  const ck = loadFeatureMlpCheckpoint(path);
  if (E.isLeft(ck)) throw ck.left;
  if (ck.right.handover !== undefined) throw new Error(`${path}: already hands over to other weights; join single-weight checkpoints`);
  return ck.right;
}
const [early, late] = [single(a.early), single(a.late)];
if (JSON.stringify(early.architecture) !== JSON.stringify(late.architecture)) throw new Error(`${a.late}: another architecture than ${a.early}'s`);

const meta = {
  handover: { source: `npx tsx scripts/feature-mlp-handover.ts ${process.argv.slice(2).join(' ')}`, early: a.early, late: a.late, from, to },
  early: early.meta,
  late: late.meta,
};
writeFileSync(a.out, `${JSON.stringify(encodeFeatureMlpCheckpoint(early.architecture, early.weights, meta, { from, to, weights: late.weights }))}\n`);
process.stderr.write(`wrote ${a.out}: ${a.early} to step ${from}, ${a.late} from step ${to}\n`);
