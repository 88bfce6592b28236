/**
 * Tunes a few weights of a feature-MLP checkpoint by antithetic evolution strategies on whole
 * episodes (src/meta/featureMlpEs.ts), resumable:
 *
 *   npx tsx scripts/es-feature-mlp.ts --init results/F2/best.json --tune bs,us,c --out results/E1
 *
 * OUT/state.json holds the weights, the Adam moments and the next pair; a rerun of the same
 * command continues. Pair p uses episode seed `seed · 100 003 + p` and perturbation stream
 * `seed · 100 003 + p + 77`. OUT/best.json is the best checkpoint by the held-out evaluation
 * of scripts/meta-train-feature-mlp.ts (training loss, 2 episodes of 3,000 steps).
 * The run's command with `--export FILE` writes the weights of its last update as a checkpoint and exits.
 * `--guard strict|paired` scores each episode by the anchored loss guard's point with the learned
 * optimizer (SGDnm the fallback, k = m = 10; src/meta/guardEpisode.ts) instead of the learned
 * optimizer's own: ES aimed at the guarded run. `--alone-at STEPS` (with `--guard`) adds to that
 * score `--alone-weight` times the learned optimizer's own score on the same episode run to the
 * last of STEPS: the guard's lead early and the learned optimizer's own progress later, together.
 * `--alone-margin M` makes that term a constraint rather than an aim: how far the learned
 * optimizer's own run is above SGDnm's own run on the same episode (`shortfall`: the mean over
 * STEPS of max(0, log(loss / SGDnm's) + M)), 0 once it is below by the factor e^−M everywhere.
 * `--update tensor` runs the episodes' updates as tensor operations (featureMlpUpdateTensor: about
 * 2.5× faster on wasm, equal to rounding); the default `loop` is what the runs before G3 used.
 */
import * as E from 'fp-ts/lib/Either.js';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeJsonAtomic } from '../jobs/files.js';
import { decodeWith } from '../src/codec/decode.js';
import { FEATURE_MLP_WEIGHT_NAMES, featureMlpUpdate, type FeatureMlpWeightName } from '../src/l2o/featureMlp.js';
import { FeatureMlpArchitectureCodec, decodeFeatureMlpWeights, encodeFeatureMlpCheckpoint } from '../src/l2o/featureMlpCodec.js';
import type { DecisionRule } from '../src/guard/decide.js';
import { LOSS_GUARD_DEFAULTS } from '../src/guard/lossGuard.js';
import { episodeLosses, esPair, meanLogLoss, sgdnmEpisodeLosses, shortfall, tunedView, type EsSettings } from '../src/meta/featureMlpEs.js';
import { guardEpisodeScore } from '../src/meta/guardEpisode.js';
import { evaluateFeatureMlp, selectionSubset } from '../src/meta/featureMlpTrainer.js';
import { featureMlpUpdateTensor } from '../src/l2o/featureMlpTensor.js';
import { packageVersion } from '../src/paths.js';
import { trainSubset } from '../src/runs/trainEvaluator.js';
import { findTask, loadTask } from '../src/tasks/index.js';
import { selectBackend } from '../src/tensor/backend.js';
import { Rng } from '../src/tensor/rng.js';

const { values: a } = parseArgs({
  options: {
    init: { type: 'string' },
    task: { type: 'string', default: 'mlp-mnist' },
    tune: { type: 'string', default: 'bs,us,c' },
    sigma: { type: 'string', default: '0.1' },
    lr: { type: 'string', default: '0.02' },
    steps: { type: 'string', default: '2000' },
    at: { type: 'string', default: '50,100,200,500,1000,2000' },
    'pairs-per-update': { type: 'string', default: '2' },
    updates: { type: 'string', default: '100' },
    'eval-every': { type: 'string', default: '10' },
    seed: { type: 'string', default: '0' },
    out: { type: 'string' },
    export: { type: 'string' },
    guard: { type: 'string' },
    'alone-at': { type: 'string' },
    'alone-weight': { type: 'string', default: '1' },
    'alone-margin': { type: 'string' },
    update: { type: 'string', default: 'loop' },
  },
});
if (a.out === undefined || a.init === undefined) throw new Error('--init CHECKPOINT and --out DIR are required');
const out = a.out;
const tune = a.tune.split(',') as FeatureMlpWeightName[];
for (const n of tune)
  if (!(FEATURE_MLP_WEIGHT_NAMES as readonly string[]).includes(n))
    throw new Error(`--tune: unknown weight ${n} (have ${FEATURE_MLP_WEIGHT_NAMES.join(', ')})`);
if (a.update !== 'loop' && a.update !== 'tensor') throw new Error(`--update: loop or tensor, got ${a.update}`);
const es: EsSettings = {
  tune,
  sigma: Number(a.sigma),
  lr: Number(a.lr),
  steps: Number(a.steps),
  at: a.at.split(',').map(Number),
  batchSize: 128,
};
const updateRule = a.update === 'tensor' ? featureMlpUpdateTensor : featureMlpUpdate;
/** The episodes' settings: `es` (what state.json records) with the update rule `--update` names. */
const esRun: EsSettings = { ...es, update: updateRule };
if (Math.max(...es.at) !== es.steps) throw new Error(`--at: its last step must be --steps ${es.steps}, got ${a.at}`);
if (a.guard !== undefined && a.guard !== 'strict' && a.guard !== 'paired') throw new Error(`--guard: strict or paired, got ${a.guard}`);
const guardRule = a.guard as DecisionRule | undefined;
const alone =
  a['alone-at'] === undefined
    ? undefined
    : {
        at: a['alone-at'].split(',').map(Number),
        weight: Number(a['alone-weight']),
        ...(a['alone-margin'] === undefined ? {} : { margin: Number(a['alone-margin']) }),
      };
if (a['alone-margin'] !== undefined && alone === undefined) throw new Error('--alone-margin: only with --alone-at');
if (alone !== undefined) {
  if (guardRule === undefined) throw new Error('--alone-at: only with --guard (without it every episode is the learned optimizer alone)');
  if (alone.at.some((x) => !(Number.isInteger(x) && x > 0))) throw new Error(`--alone-at: positive whole steps, got ${a['alone-at']}`);
  if (!(alone.weight > 0)) throw new Error(`--alone-weight: a positive number, got ${a['alone-weight']}`);
  if (alone.margin !== undefined && !(alone.margin >= 0)) throw new Error(`--alone-margin: a number ≥ 0, got ${a['alone-margin']}`);
}
const settings = {
  ...es,
  ...(a.update === 'tensor' ? { update: 'tensor' } : {}),
  init: a.init,
  task: a.task,
  ...(guardRule === undefined ? {} : { guard: guardRule }),
  ...(alone === undefined ? {} : { alone }),
  pairsPerUpdate: Number(a['pairs-per-update']),
  evalEvery: Number(a['eval-every']),
  seed: Number(a.seed),
};
const command = `npx tsx scripts/es-feature-mlp.ts ${process.argv.slice(2).join(' ')}`;

const raw = JSON.parse(readFileSync(a.init, 'utf8')) as { architecture: unknown; weights: unknown; meta?: Record<string, unknown> };
const decodedArch = decodeWith(FeatureMlpArchitectureCodec, raw.architecture, `${a.init}: architecture`);
if (E.isLeft(decodedArch)) throw decodedArch.left;
const arch = decodedArch.right;
const decoded = decodeFeatureMlpWeights(arch, raw.weights, a.init);
if (E.isLeft(decoded)) throw decoded.left;
const weights = decoded.right;
const view = tunedView(weights, tune);

await selectBackend('wasm');
const loaded = loadTask(settings.task, { seed: 0 });
if (E.isLeft(loaded)) throw loaded.left;
const { objective, splits } = loaded.right;
const trainSet = selectionSubset(splits.train);
const evalSets = { train: trainSet, validation: trainSubset(splits.validation ?? splits.test, 2000) };

const task = findTask(settings.task);
if (E.isLeft(task)) throw task.left;
/** SGDnm's settings on the task: the guard's fallback, and the reference of `--alone-margin`. */
const sgdnm = task.right.defaults.sgd;
const guardScore =
  guardRule === undefined
    ? undefined
    : (seed: number) =>
        guardEpisodeScore(arch, weights, objective, splits.train, trainSet, seed, es.at, es.batchSize, {
          k: LOSS_GUARD_DEFAULTS.k,
          m: LOSS_GUARD_DEFAULTS.m,
          rule: guardRule,
          alpha: LOSS_GUARD_DEFAULTS.alpha,
          sgd: sgdnm,
          update: updateRule,
        }) + (alone === undefined ? 0 : alone.weight * aloneScore(alone, seed));

/** SGDnm's own losses on the latest episode, for `--alone-margin` (both sides of a pair share the episode). */
let sgdnmLast: { seed: number; losses: number[] } | undefined;
/** The learned optimizer's own term: its mean log loss at `at`, or with a margin how far it is above SGDnm's own run (`shortfall`). */
function aloneScore(o: { at: readonly number[]; margin?: number }, seed: number): number {
  const own = episodeLosses(arch, weights, objective, splits.train, trainSet, seed, { ...esRun, steps: Math.max(...o.at), at: o.at });
  if (o.margin === undefined) return meanLogLoss(own);
  if (sgdnmLast?.seed !== seed) sgdnmLast = { seed, losses: sgdnmEpisodeLosses(objective, splits.train, trainSet, seed, o.at, es.batchSize, sgdnm) };
  return shortfall(own, sgdnmLast.losses, o.margin);
}

interface Saved {
  settings: typeof settings;
  tuned: number[];
  adam: { m: number[]; v: number[]; t: number };
  update: number;
  wallMs: number;
  best: { score: number; update: number } | null;
  command: string;
  resumedWith: string[];
}
mkdirSync(out, { recursive: true });
const statePath = join(out, 'state.json');
let saved: Saved;
if (existsSync(statePath)) {
  saved = JSON.parse(readFileSync(statePath, 'utf8')) as Saved;
  if (saved.settings.tune.join(',') !== tune.join(',')) {
    process.stderr.write(`${statePath}: tunes ${saved.settings.tune.join(',')}, not --tune ${tune.join(',')} (give the run's own command)\n`);
    process.exit(2);
  }
  if (saved.settings.guard !== guardRule) {
    const episodes = (rule: string | undefined) => (rule === undefined ? 'the learned optimizer alone' : `--guard ${rule}`);
    process.stderr.write(`${statePath}: scores ${episodes(saved.settings.guard)}, not ${episodes(guardRule)} (give the run's own command)\n`);
    process.exit(2);
  }
  if ((saved.settings.update ?? 'loop') !== a.update) {
    process.stderr.write(`${statePath}: ran its episodes with --update ${saved.settings.update ?? 'loop'}, not ${a.update} (give the run's own command)\n`);
    process.exit(2);
  }
  if (JSON.stringify(saved.settings.alone) !== JSON.stringify(alone)) {
    const was =
      saved.settings.alone === undefined
        ? 'no --alone-at'
        : `--alone-at ${saved.settings.alone.at.join(',')} --alone-weight ${saved.settings.alone.weight}` +
          (saved.settings.alone.margin === undefined ? '' : ` --alone-margin ${saved.settings.alone.margin}`);
    process.stderr.write(`${statePath}: was started with ${was} (give the run's own command)\n`);
    process.exit(2);
  }
  view.set(saved.tuned);
  if (a.export === undefined) saved.resumedWith.push(command);
} else {
  const n = view.get().length;
  saved = {
    settings,
    tuned: Array.from(view.get()),
    adam: { m: Array(n).fill(0), v: Array(n).fill(0), t: 0 },
    update: 0,
    wallMs: 0,
    best: null,
    command,
    resumedWith: [],
  };
}
const log = (o: unknown) => appendFileSync(join(out, 'log.jsonl'), `${JSON.stringify(o)}\n`);

/** The checkpoint's provenance at the current update (with the held-out score, if just evaluated). */
function provenance(score?: number) {
  return {
    metaTraining: {
      architecture: 'feature-mlp',
      init: { file: a.init, metaTraining: raw.meta?.['metaTraining'] },
      es: saved.settings,
      command: saved.command,
      resumedWith: saved.resumedWith,
      update: saved.update,
      ...(score === undefined ? {} : { evalScore: score }),
      wallSeconds: Math.round(saved.wallMs / 1000),
      backend: 'wasm',
      version: packageVersion(),
    },
  };
}

if (a.export !== undefined) {
  writeJsonAtomic(a.export, encodeFeatureMlpCheckpoint(arch, weights, provenance()));
  process.stderr.write(`${a.export}: the weights after update ${saved.update}\n`);
  process.exit(0);
}

function evaluateNow(): void {
  const t0 = performance.now();
  const r = evaluateFeatureMlp(arch, weights, objective, splits.train, evalSets, {
    episodes: 2,
    at: [50, 100, 200, 500, 1000, 2000, 3000],
    batchSize: 128,
    seed: 900_001,
    update: updateRule,
  });
  saved.wallMs += performance.now() - t0;
  const score = r.score['train']!;
  const best = saved.best === null || score < saved.best.score;
  if (best) {
    saved.best = { score, update: saved.update };
    writeJsonAtomic(join(out, 'best.json'), encodeFeatureMlpCheckpoint(arch, weights, provenance(score)));
  }
  log({ kind: 'eval', update: saved.update, score: r.score, at: r.at, loss: r.loss, best, wallS: Math.round(saved.wallMs / 1000) });
  for (const [name, loss] of Object.entries(r.loss))
    process.stderr.write(
      `eval @${saved.update} ${name}: ${r.score[name]!.toFixed(4)} ${loss.map((l) => l.toFixed(4)).join(' ')}${best && name === 'train' ? ' (best)' : ''}\n`,
    );
}

if (saved.best === null) evaluateNow();
const updates = Number(a.updates);
while (saved.update < updates) {
  const t0 = performance.now();
  const theta = view.get();
  const grad = new Float64Array(theta.length);
  let used = 0;
  const scores: number[] = [];
  for (let k = 0; k < settings.pairsPerUpdate; k++) {
    const p = saved.update * settings.pairsPerUpdate + k;
    const seed = settings.seed * 100_003 + p;
    const r = esPair(arch, weights, objective, splits.train, trainSet, esRun, seed, Rng.seeded(seed + 77), guardScore);
    scores.push(r.plus, r.minus);
    if (r.grad !== null) {
      used += 1;
      for (let i = 0; i < grad.length; i++) grad[i]! += r.grad[i]!;
    }
  }
  if (used > 0) {
    const { m, v } = saved.adam;
    saved.adam.t += 1;
    const t = saved.adam.t;
    for (let i = 0; i < theta.length; i++) {
      const g = grad[i]! / used;
      m[i] = 0.9 * m[i]! + 0.1 * g;
      v[i] = 0.999 * v[i]! + 0.001 * g * g;
      theta[i]! -= (es.lr * (m[i]! / (1 - 0.9 ** t))) / (Math.sqrt(v[i]! / (1 - 0.999 ** t)) + 1e-8);
    }
    view.set(theta);
  }
  saved.wallMs += performance.now() - t0;
  saved.update += 1;
  saved.tuned = Array.from(view.get());
  log({ kind: 'update', update: saved.update, scores, used, wallS: Math.round(saved.wallMs / 1000) });
  process.stderr.write(`update ${saved.update}: mean score ${(scores.reduce((x, y) => x + y, 0) / scores.length).toFixed(4)} (${used} pairs)\n`);
  if (saved.update % settings.evalEvery === 0) evaluateNow();
  writeJsonAtomic(statePath, saved);
}
