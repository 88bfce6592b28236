/**
 * Mixes two feature-MLP checkpoints of one architecture weight by weight, (1 − t)·A + t·B:
 *
 *   npx tsx scripts/feature-mlp-mix.ts --a checkpoints/feature-mlp.json --b checkpoints/feature-mlp-guard.json --t 0.25 --out mix.json
 *
 * Why: `feature-mlp` (G3) and `feature-mlp-guard` (H1) both descend from G1 at update 34, one
 * tuned for the learned optimizer alone, one for the anchored guard; the points between them
 * show how the two aims trade off (checkpoints/README.md, "Mixes of G3 and H1").
 */
import * as E from 'fp-ts/lib/Either.js';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { mixFeatureMlpWeights } from '../src/l2o/featureMlpHandover.js';
import { loadFeatureMlpCheckpoint } from '../src/l2o/weightsFile.js';
import type { FeatureMlpCheckpoint } from '../src/l2o/weightsCodec.js';

const { values: a } = parseArgs({ options: { a: { type: 'string' }, b: { type: 'string' }, t: { type: 'string' }, out: { type: 'string' } } });
if (a.a === undefined || a.b === undefined || a.t === undefined || a.out === undefined)
  throw new Error('--a CHECKPOINT --b CHECKPOINT --t FRACTION --out FILE are required');
const t = Number(a.t);
if (!(t >= 0 && t <= 1)) throw new Error(`--t ${a.t}: expected a fraction from 0 to 1`);

function featureMlp(path: string): FeatureMlpCheckpoint {
  const ck = loadFeatureMlpCheckpoint(path);
  if (E.isLeft(ck)) throw ck.left;
  return ck.right;
}
const [A, B] = [featureMlp(a.a), featureMlp(a.b)];
if (JSON.stringify(A.architecture) !== JSON.stringify(B.architecture)) throw new Error(`${a.b}: another architecture than ${a.a}'s`);

const mixed = mixFeatureMlpWeights(A.weights, B.weights, t);
const meta = { mix: { source: `npx tsx scripts/feature-mlp-mix.ts ${process.argv.slice(2).join(' ')}`, a: a.a, b: a.b, t } };
writeFileSync(a.out, `${JSON.stringify(encodeFeatureMlpCheckpoint(A.architecture, mixed, meta))}\n`);
process.stderr.write(`wrote ${a.out}: ${1 - t} of ${a.a} + ${t} of ${a.b}\n`);
