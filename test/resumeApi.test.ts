import * as E from 'fp-ts/lib/Either.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRunDir } from '../src/runs/runDir.js';
import { decodeWith } from '../src/codec/decode.js';
import { RunConfig } from '../src/config/run.js';
import { InterruptedError, runJob } from '../jobs/runJob.js';

/**
 * Checkpoint and resume through the functions a program (the experiment runner) calls:
 * `runJob` with an abort signal, then `readRunDir` and `runJob` with `resume`, for optimizers
 * whose states differ (the safeguard's μ history, Adam's moments, the anchored adaptive guard).
 */
const root = mkdtempSync(join(tmpdir(), 'lgl2o-resume-api-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const readJson = (path: string): Record<string, unknown> => JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
const events = (dir: string) =>
  readFileSync(join(dir, 'events.ndjson'), 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
const comparable = (es: Record<string, unknown>[]) => es.map(({ elapsedMs: _t, ...rest }) => rest);

describe('the library API the experiment runner calls', () => {
  const configs: Record<string, unknown> = {
    'gl2o with a momentum fallback': {
      task: 'quadratic',
      optimizer: { type: 'gl2o', learned: { type: 'l2o', checkpoint: 'random:2' }, fallback: { type: 'momentum' }, sequence: 'RM' },
      steps: 800,
      seed: 4,
    },
    adam: { task: 'quadratic', optimizer: { type: 'adam' }, steps: 1500, seed: 5, batchSize: 32 },
    'anchored, adaptive lgl2o with back-off': {
      task: 'quadratic',
      optimizer: {
        type: 'lgl2o',
        learned: { type: 'l2o', checkpoint: 'random:3' },
        fallback: { type: 'sgd' },
        k: 2,
        m: 3,
        anchor: true,
        backoff: 2,
        adaptive: { growth: 2, maxK: 8, shrink: true },
      },
      steps: 1000,
      seed: 6,
    },
  };
  for (const [name, raw] of Object.entries(configs)) {
    it(`aborting ${name} checkpoints; resuming from the directory ends bit-identical`, async () => {
      const config = decodeWith(RunConfig, raw, name);
      if (E.isLeft(config)) throw config.left;
      const settings = { checkpointEvery: 7, log: { dense: 100, perDecade: 50 } };
      const ref = join(root, `api-ref-${name}`);
      await runJob(config.right, { outDir: ref, backend: 'wasm', progress: false, settings });

      const dir = join(root, `api-${name}`);
      const abort = new AbortController();
      setTimeout(() => abort.abort(), 100);
      const err = await runJob(config.right, { outDir: dir, backend: 'wasm', progress: false, settings, signal: abort.signal }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InterruptedError);
      const { step, checkpoint } = err as InterruptedError;
      expect(step).toBeGreaterThan(0);
      expect(step).toBeLessThan(config.right.steps);
      // The checkpoint is of the last whole round: written on abort, or already there when that round was a scheduled one.
      expect(checkpoint?.step).toBe(step);
      const ck = readJson(join(dir, 'checkpoint.json'));
      expect([ck['step'], ck['reason'] === 'signal' || (ck['reason'] === 'interval' && (ck['round'] as number) % settings.checkpointEvery === 0)]).toEqual([
        step,
        true,
      ]);

      const saved = readRunDir(dir);
      if (E.isLeft(saved)) throw saved.left;
      await runJob(saved.right.config, { outDir: dir, backend: 'wasm', progress: false, resume: saved.right });
      const [got, want] = [readJson(join(dir, 'checkpoint.json')), readJson(join(ref, 'checkpoint.json'))];
      for (const key of ['step', 'round', 'sampler', 'state']) expect(got[key], key).toEqual(want[key]);
      expect(comparable(events(dir))).toEqual(comparable(events(ref)));
    });
  }
});
