import * as t from 'io-ts';
import { boundedNumber, strictShape } from '../codec/decode.js';
import type { RunConfig } from '../config/run.js';
import { DEFAULT_BATCH_SIZE } from '../data/sampler.js';
import { evalSteps } from './grid.js';
import type { Entry, Setting } from './settings.js';

/** Default size of the fixed training subset on which the training loss is evaluated. */
export const TRAIN_SUBSET = 2000;

export interface ExperimentParams {
  readonly steps: number;
  readonly seeds: number;
  /** The learned optimizer: a shipped name (`lstm`, `feature-mlp`, `default`), a checkpoint path, or `random:SEED` (development only). */
  readonly l2o: string;
  readonly trainSubset: number;
  readonly dataDir?: string;
}

/** One run of an experiment: an entry and a seed, its directory (relative to the experiment's) and config. */
export interface PlannedRun {
  readonly id: string;
  readonly entry: Entry;
  readonly seed: number;
  readonly dir: string;
  readonly config: RunConfig;
}

export const seedList = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** The runs of an experiment, seed by seed, so that a partial experiment has whole seeds first. */
export function planRuns(setting: Setting, p: ExperimentParams): PlannedRun[] {
  const grid = evalSteps(p.steps);
  return seedList(p.seeds).flatMap((seed) =>
    setting.entries.map((entry) => ({
      id: `${entry.id}/seed-${seed}`,
      entry,
      seed,
      dir: `runs/${entry.id}/seed-${seed}`,
      config: {
        task: setting.task,
        optimizer: entry.config({ type: 'l2o', checkpoint: p.l2o }),
        steps: p.steps,
        seed,
        batchSize: DEFAULT_BATCH_SIZE,
        trainEval: { steps: grid, size: p.trainSubset },
        ...(p.dataDir !== undefined ? { dataDir: p.dataDir } : {}),
      },
    })),
  );
}

/** DIR/experiment.json: what an experiment directory holds, so that a rerun resumes the same experiment. */
export const Manifest = strictShape(
  {
    setting: t.string,
    steps: boundedNumber('steps', 1, Number.MAX_SAFE_INTEGER, true),
    seeds: boundedNumber('seeds', 1, 1000, true),
    l2o: t.string,
    trainSubset: boundedNumber('trainSubset', 1, Number.MAX_SAFE_INTEGER, true),
  },
  { dataDir: t.string, command: t.string, createdAt: t.string, l2oSha256: t.string },
  'Manifest',
);
export type Manifest = t.TypeOf<typeof Manifest>;

/**
 * Why an existing experiment directory cannot be resumed with new parameters, or undefined
 * when it can: the setting, horizon, learned optimizer (path and content) and subset must
 * match (more seeds may be added).
 */
export function manifestConflict(old: Manifest, now: Manifest): string | undefined {
  const fields = ['setting', 'steps', 'l2o', 'l2oSha256', 'trainSubset'] as const;
  const diff = fields.filter((f) => old[f] !== now[f]);
  if (diff.length === 0) return undefined;
  return diff.map((f) => `${f} ${JSON.stringify(old[f])} there, ${JSON.stringify(now[f])} asked`).join('; ');
}

/** DIR/runs/.../timing.json: CPU time of the run's processes that reported it (an interrupted process does not). */
export const RunTiming = strictShape({ cpuMs: t.number, processes: t.number }, {}, 'RunTiming');
export type RunTiming = t.TypeOf<typeof RunTiming>;

/** DIR/runs/.../status.json, written by the runner when a run ends without finishing normally. */
export const RunStatus = strictShape(
  { status: t.keyof({ diverged: null, failed: null }), exitCode: t.number, message: t.string },
  { at: t.string, wallMs: t.number },
  'RunStatus',
);
export type RunStatus = t.TypeOf<typeof RunStatus>;
