import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { leastSquaresData } from '../src/data/leastSquares.js';
import { disposeCheckpoint, loadCheckpoint } from '../src/l2o/weightsFile.js';
import { loadResumePoint, metaCheckpointJson } from '../src/meta/snapshot.js';
import { evaluateL2O, MetaTrainer, type MetaEvent, type MetaTrainSettings } from '../src/meta/trainer.js';
import { leastSquares } from '../src/optimizee/quadratic.js';
import { disposeAll } from '../src/tensor/state.js';
import { cliInProcess } from './cliProcess.js';

const SETTINGS: MetaTrainSettings = {
  task: 'quadratic',
  metaSteps: 60,
  rollout: 20,
  truncation: 5,
  metaLr: 0.01,
  clip: 0,
  lossKind: 'window',
  backward: 'fused',
  seed: 1,
  batchSize: 32,
  evalEvery: 20,
  evalEpisodes: 3,
  evalSteps: 20,
  curriculum: [],
  architecture: { hidden: 8, layers: 2, preprocP: 10, outScale: 0.1 },
  init: null,
};

const data = leastSquaresData({ dim: 10, count: 2000, noise: 0.1 }, 3);
const objective = leastSquares(10);
const splits = { train: data.train, evaluation: data.test };
const PROVENANCE = { command: 'test', resumedWith: [], backend: 'wasm', versions: {} };

function newTrainer(settings: MetaTrainSettings): MetaTrainer {
  const w0 = MetaTrainer.randomInitialWeights(settings);
  const trainer = new MetaTrainer(objective, splits, settings, { opt: MetaTrainer.freshOpt(w0) });
  w0.dispose();
  return trainer;
}

const withoutWall = ({ wallMs: _w, ...rest }: MetaEvent) => rest;
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('MetaTrainer', () => {
  it('meta-trains on quadratics: the meta-loss falls and the learned optimizer beats its random initialisation on held-out problems', () => {
    const before = tf.memory().numTensors;
    const trainer = newTrainer(SETTINGS);
    const random = trainer.weights();
    const events: MetaEvent[] = [];
    while (!trainer.done) events.push(trainer.step());
    expect(events.length).toBe(60);
    // one episode = 4 windows: the first three episodes against the last three
    const first = mean(events.slice(0, 12).map((e) => e.meanLoss));
    const last = mean(events.slice(-12).map((e) => e.meanLoss));
    expect(last).toBeLessThan(0.6 * first);
    const trained = trainer.weights();
    const opts = { episodes: 4, steps: 40, batchSize: 32 };
    const scoreRandom = evaluateL2O(objective, SETTINGS.architecture, random, data.test, opts);
    const scoreTrained = evaluateL2O(objective, SETTINGS.architecture, trained, data.test, opts);
    expect(scoreTrained.loss).toBeLessThan(0.5 * scoreRandom.loss);
    expect(scoreTrained.finalLoss).toBeLessThan(scoreRandom.finalLoss);
    // evaluations ran at the episode boundaries after meta-steps 20, 40 and 60
    expect(events.filter((e) => e.evalLoss !== undefined).map((e) => e.metaStep)).toEqual([20, 40, 60]);
    disposeAll([random, trained]);
    trainer.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a run resumed from its last.json gives the same numbers as an uninterrupted one', () => {
    const settings = { ...SETTINGS, metaSteps: 16, evalEvery: 8, lossKind: 'final' as const, clip: 1 };
    const straight = newTrainer(settings);
    const all: MetaEvent[] = [];
    while (!straight.done) all.push(straight.step());

    const first = newTrainer(settings);
    const head: MetaEvent[] = [];
    while (first.metaStep < 8) head.push(first.step());
    expect(first.atEpisodeBoundary).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'lgl2o-meta-'));
    const path = join(dir, 'last.json');
    const weights = first.weights();
    writeFileSync(
      path,
      JSON.stringify(
        metaCheckpointJson(
          settings,
          weights,
          { metaStep: 8, wallMs: 1, evalLoss: null, provenance: PROVENANCE },
          { position: first.savedPosition(), opt: first.metaOpt() },
        ),
      ),
    );
    disposeAll(weights);
    first.dispose();

    const point = loadResumePoint(path);
    if (E.isLeft(point)) throw point.left;
    expect(point.right.settings).toEqual(settings);
    const resumed = new MetaTrainer(objective, splits, point.right.settings, { opt: point.right.opt, position: point.right.position });
    const tail: MetaEvent[] = [];
    while (!resumed.done) tail.push(resumed.step());
    expect([...head, ...tail].map(withoutWall)).toEqual(all.map(withoutWall));
    const a = straight.weights();
    const b = resumed.weights();
    a.forEach((t, i) => expect(Array.from(t.dataSync())).toEqual(Array.from(b[i]!.dataSync())));
    // the checkpoint is also an ordinary learned-optimizer checkpoint
    const ck = loadCheckpoint(path);
    expect(E.isRight(ck)).toBe(true);
    if (E.isRight(ck)) disposeCheckpoint(ck.right);
    disposeAll([a, b]);
    straight.dispose();
    resumed.dispose();
  });

  it('refuses a last.json whose Adam state does not fit the weights, naming the field', () => {
    const trainer = newTrainer({ ...SETTINGS, metaSteps: 4 });
    while (!trainer.done) trainer.step();
    const weights = trainer.weights();
    const json = metaCheckpointJson(
      SETTINGS,
      weights,
      { metaStep: 4, wallMs: 1, evalLoss: null, provenance: PROVENANCE },
      { position: trainer.savedPosition(), opt: trainer.metaOpt() },
    );
    const broken = JSON.parse(JSON.stringify(json)) as { meta: { resume: { adam: { m: unknown } } } };
    broken.meta.resume.adam.m = { $tensor: { dtype: 'float32', shape: [2], data: 'AAAAAAAAAAA=' } };
    const path = join(mkdtempSync(join(tmpdir(), 'lgl2o-meta-')), 'last.json');
    writeFileSync(path, JSON.stringify(broken));
    const point = loadResumePoint(path);
    expect(E.isLeft(point) && point.left.message).toMatch(/meta\.resume\.adam\.m: expected shape \[\d+\], got \[2\]/);
    disposeAll(weights);
    trainer.dispose();
  });
});

describe('lgl2o meta-train', () => {
  const read = (dir: string) =>
    readFileSync(join(dir, 'meta.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => {
        const { wallMs: _w, ...rest } = JSON.parse(l) as MetaEvent;
        return rest;
      });
  const flags = ['--task', 'quadratic', '--rollout', '10', '--truncation', '5', '--eval-every', '4', '--eval-steps', '10', '--meta-lr', '0.01'];

  it('--resume continues a run from last.json, cutting the log back, with the same numbers as one run', async () => {
    const root = mkdtempSync(join(tmpdir(), 'lgl2o-meta-cli-'));
    const straight = join(root, 'straight');
    const split = join(root, 'split');
    expect((await cliInProcess(['--quiet', 'meta-train', ...flags, '--meta-steps', '12', '--out', straight])).code).toBe(0);
    expect((await cliInProcess(['--quiet', 'meta-train', ...flags, '--meta-steps', '6', '--out', split])).code).toBe(0);
    // an interruption after last.json was written leaves later lines (and half a line) behind
    appendFileSync(join(split, 'meta.ndjson'), '{"metaStep":7,"metaLoss":1}\n{"metaSt');
    const resumed = await cliInProcess(['--quiet', 'meta-train', '--resume', split, '--meta-steps', '12']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(read(split)).toEqual(read(straight));
    const last = JSON.parse(readFileSync(join(split, 'last.json'), 'utf8')) as { meta: { metaTraining: { command: string; resumedWith: string[] } } };
    expect(last.meta.metaTraining.command).toMatch(/^lgl2o .*meta-train .*--meta-steps 6/);
    expect(last.meta.metaTraining.resumedWith).toHaveLength(1);
    // a finished best.json is a checkpoint the run command accepts
    const run = await cliInProcess([
      '--quiet',
      'run',
      '--task',
      'quadratic',
      '--optimizer',
      'l2o',
      '--l2o',
      join(straight, 'best.json'),
      '--steps',
      '5',
      '--out',
      join(root, 'run'),
    ]);
    expect(run.code, run.stderr).toBe(0);
  });

  it('refuses an output directory that holds another run, and flags that would change a resumed run', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'lgl2o-meta-cli-')), 'run');
    expect((await cliInProcess(['--quiet', 'meta-train', ...flags, '--meta-steps', '2', '--out', dir])).code).toBe(0);
    const again = await cliInProcess(['--quiet', 'meta-train', ...flags, '--meta-steps', '2', '--out', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out .*holds another meta-training run/);
    const changed = await cliInProcess(['--quiet', 'meta-train', '--resume', dir, '--meta-lr', '0.1']);
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/drop --meta-lr/);
    const badRollout = await cliInProcess(['--quiet', 'meta-train', '--task', 'quadratic', '--rollout', '30', '--truncation', '20', '--out', `${dir}-2`]);
    expect(badRollout.code).toBe(2);
    expect(badRollout.stderr).toMatch(/rollout 30: must be a multiple of --truncation 20/);
  });
});
