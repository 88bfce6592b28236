/**
 * Meta-trains the feature-MLP learned optimizer (docs/algorithms.md §3b) on a task, resumable:
 *
 *   npx tsx scripts/meta-train-feature-mlp.ts --task mlp-mnist --episodes 400 --out results/fmlp
 *
 * OUT/state.json holds everything a resume needs (weights, the meta-optimizer's moments, the
 * next episode, the best evaluation); a rerun of the same command continues from it. Episode e
 * uses seed `seed · 100 003 + e`, so a resumed run repeats the episodes an uninterrupted one
 * would. OUT/log.jsonl has a line per episode and per evaluation; OUT/best.json is the
 * checkpoint (lgl2o/l2o format) of the best evaluation so far.
 */
import * as E from 'fp-ts/lib/Either.js';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeJsonAtomic } from '../jobs/files.js';
import {
  FEATURE_MLP_ARCHITECTURE,
  FEATURE_MLP_WEIGHT_NAMES,
  adamLikeWeights,
  type FeatureMlpWeightName,
  type FeatureMlpWeights,
} from '../src/l2o/featureMlp.js';
import { decodeFeatureMlpWeights, encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import { assign, evaluateFeatureMlp, flatten, metaTrainEpisode, selectionSubset, type MetaAdam } from '../src/meta/featureMlpTrainer.js';
import { packageVersion } from '../src/paths.js';
import { trainSubset } from '../src/runs/trainEvaluator.js';
import { loadTask } from '../src/tasks/index.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';

const { values: a } = parseArgs({
  options: {
    task: { type: 'string', default: 'mlp-mnist' },
    episodes: { type: 'string', default: '400' },
    'episode-steps': { type: 'string', default: '500,1000,2000,3000' },
    window: { type: 'string', default: '50' },
    'meta-lr': { type: 'string', default: '0.001' },
    clip: { type: 'string', default: '1' },
    'coord-fraction': { type: 'string', default: '1' },
    'init-lr': { type: 'string', default: '0.01' },
    seed: { type: 'string', default: '0' },
    'eval-every': { type: 'string', default: '10' },
    'eval-episodes': { type: 'string', default: '2' },
    'eval-at': { type: 'string', default: '50,100,200,500,1000,2000,3000' },
    select: { type: 'string', default: 'train' },
    init: { type: 'string' },
    freeze: { type: 'string', default: '' },
    out: { type: 'string' },
  },
});
if (a.out === undefined) throw new Error('--out DIR is required');
const out = a.out;
const nums = (s: string) => s.split(',').map(Number);
const settings = {
  task: a.task,
  episodeSteps: nums(a['episode-steps']),
  window: Number(a.window),
  metaLr: Number(a['meta-lr']),
  clip: Number(a.clip),
  coordFraction: Number(a['coord-fraction']),
  initLr: Number(a['init-lr']),
  batchSize: 128,
  seed: Number(a.seed),
  evalEvery: Number(a['eval-every']),
  evalEpisodes: Number(a['eval-episodes']),
  evalAt: nums(a['eval-at']),
  select: a.select,
  init: a.init ?? null,
  freeze: a.freeze.split(',').filter((n) => n !== '') as FeatureMlpWeightName[],
};
for (const n of settings.freeze)
  if (!(FEATURE_MLP_WEIGHT_NAMES as readonly string[]).includes(n))
    throw new Error(`--freeze: unknown weight ${n} (have ${FEATURE_MLP_WEIGHT_NAMES.join(', ')})`);
const arch = FEATURE_MLP_ARCHITECTURE;
const command = `npx tsx scripts/meta-train-feature-mlp.ts ${process.argv.slice(2).join(' ')}`;

await selectBackend('wasm');
const loaded = loadTask(settings.task, { seed: 0 });
if (E.isLeft(loaded)) throw loaded.left;
const { objective, splits } = loaded.right;
const evalData = splits.validation ?? splits.test;
// Selection by the training loss (what the optimizer minimises and the experiments report) on
// 2,000 training examples other than the experiments' subset; the validation loss is logged next to it.
const evalSets = {
  train: selectionSubset(splits.train),
  validation: trainSubset(evalData, 2000),
};

/** A feature-MLP checkpoint's weights (its architecture must be this script's). */
function readWeights(path: string): FeatureMlpWeights {
  const raw = JSON.parse(readFileSync(path, 'utf8')) as { architecture: unknown; weights: unknown };
  if (JSON.stringify(raw.architecture) !== JSON.stringify(arch)) throw new Error(`${path}: another architecture than ${JSON.stringify(arch)}`);
  const w = decodeFeatureMlpWeights(arch, raw.weights, path);
  if (E.isLeft(w)) throw w.left;
  return w.right;
}

interface SavedState {
  settings: typeof settings;
  weights: number[];
  adam: { m: number[]; v: number[]; t: number };
  episode: number;
  metaSteps: number;
  wallMs: number;
  best: { score: number; episode: number; select?: string } | null;
  command: string;
  resumedWith: string[];
}

mkdirSync(out, { recursive: true });
const statePath = join(out, 'state.json');
const weights = settings.init === null ? adamLikeWeights(arch, Rng.seeded(settings.seed + 50_021), settings.initLr) : readWeights(settings.init);
const n = flatten(weights).length;
let saved: SavedState;
if (existsSync(statePath)) {
  saved = JSON.parse(readFileSync(statePath, 'utf8')) as SavedState;
  assign(weights, saved.weights);
  // A run started before selection by the training loss: its best was by another measure.
  if (saved.best !== null && saved.best.select !== settings.select) {
    saved.best = null;
    saved.settings = { ...saved.settings, select: settings.select };
  }
  saved.resumedWith.push(command);
  process.stderr.write(`resuming at episode ${saved.episode}\n`);
} else {
  saved = {
    settings,
    weights: [],
    adam: { m: Array(n).fill(0), v: Array(n).fill(0), t: 0 },
    episode: 0,
    metaSteps: 0,
    wallMs: 0,
    best: null,
    command,
    resumedWith: [],
  };
}
const adam: MetaAdam = { m: Float64Array.from(saved.adam.m), v: Float64Array.from(saved.adam.v), t: saved.adam.t };
const episodes = Number(a.episodes);
const log = (o: unknown) => appendFileSync(join(out, 'log.jsonl'), `${JSON.stringify(o)}\n`);

function provenance(episode: number, score: number) {
  return {
    metaTraining: {
      architecture: 'feature-mlp',
      settings: saved.settings,
      command: saved.command,
      resumedWith: saved.resumedWith,
      episode,
      metaSteps: saved.metaSteps,
      evalScore: score,
      wallSeconds: Math.round(saved.wallMs / 1000),
      backend: 'wasm',
      version: packageVersion(),
    },
  };
}

function evaluateNow(episode: number): void {
  const t0 = performance.now();
  const r = evaluateFeatureMlp(arch, weights, objective, splits.train, evalSets, {
    episodes: settings.evalEpisodes,
    at: settings.evalAt,
    batchSize: settings.batchSize,
    seed: 900_001,
  });
  saved.wallMs += performance.now() - t0;
  const score = r.score[saved.settings.select] ?? Infinity;
  const best = saved.best === null || score < saved.best.score;
  if (best) {
    saved.best = { score, episode, select: saved.settings.select };
    writeJsonAtomic(join(out, 'best.json'), encodeFeatureMlpCheckpoint(arch, weights, provenance(episode, score)));
  }
  log({ kind: 'eval', episode, score: r.score, at: r.at, loss: r.loss, best, wallS: Math.round(saved.wallMs / 1000) });
  for (const [name, loss] of Object.entries(r.loss))
    process.stderr.write(
      `eval @${episode} ${name}: score ${r.score[name]!.toFixed(4)} ${loss.map((l) => l.toFixed(4)).join(' ')}${best && name === saved.settings.select ? ' (best)' : ''}\n`,
    );
}

if (saved.best === null) evaluateNow(saved.episode);
while (saved.episode < episodes) {
  const e = saved.episode;
  const rng = Rng.seeded(settings.seed * 100_003 + e);
  const steps = settings.episodeSteps[Math.floor(rng.uniform() * settings.episodeSteps.length)]!;
  const t0 = performance.now();
  const r = metaTrainEpisode(arch, weights, adam, objective, splits.train, settings, settings.seed * 100_003 + e, steps);
  saved.wallMs += performance.now() - t0;
  saved.metaSteps += r.metaSteps;
  saved.episode = e + 1;
  log({ kind: 'episode', episode: e, ...r, wallS: Math.round(saved.wallMs / 1000) });
  process.stderr.write(
    `episode ${e} (${steps} steps): mean log loss ${r.meanLogLoss.toFixed(4)} final ${r.finalLoss.toFixed(4)} |g| ${r.meanGradNorm.toFixed(3)}\n`,
  );
  if (saved.episode % settings.evalEvery === 0) evaluateNow(saved.episode);
  saved.weights = Array.from(flatten(weights));
  saved.adam = { m: Array.from(adam.m), v: Array.from(adam.v), t: adam.t };
  writeJsonAtomic(statePath, saved);
}
