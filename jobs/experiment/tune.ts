import * as E from 'fp-ts/lib/Either.js';
import type * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { loadTask, type LoadedTask } from '../../src/tasks/index.js';
import { planRuns, type ExperimentParams } from '../../src/experiments/plan.js';
import { meanLossOn, scoreOf, tunePoints, tuneSetting, tuneTable, winnerOf, type SeedScore, type TuneGrid, type TuneRow } from '../../src/experiments/tune.js';
import { readRunCheckpoint } from '../../src/runs/checkpoint.js';
import { RUN_FILES } from '../../src/runs/runDir.js';
import { materializeState } from '../../src/tensor/serialize.js';
import { disposeAll } from '../../src/tensor/state.js';
import { DEFAULT_POWER } from '../../src/optim/schedule.js';
import { writeFileAtomic, writeJsonAtomic } from '../files.js';
import type { Executor } from './pool.js';
import { runState } from './results.js';
import { ExperimentError, runExperiment } from './runner.js';

/** Training examples of the runs' training-loss curves (a diagnostic here: the score is on the validation split). */
export const TUNE_TRAIN_SUBSET = 500;

export interface TuneOptions {
  readonly task: string;
  readonly grid: TuneGrid;
  readonly steps: number;
  readonly seeds: number;
  readonly outDir: string;
  readonly dataDir?: string;
  readonly jobs: number;
  readonly executor: Executor;
  readonly progress: boolean;
  readonly commandLine: string;
  /** The backend this process scores on (the runs' processes choose theirs the same way). */
  readonly backend: string;
  readonly signal?: AbortSignal;
}

export interface TuneOutcome {
  readonly task: string;
  readonly steps: number;
  readonly seeds: number;
  readonly command: string;
  readonly grid: TuneGrid;
  /** The task's defaults when the grid ran (what the winners would replace). */
  readonly defaults: LoadedTask['task']['defaults'];
  readonly rows: readonly TuneRow[];
  readonly winners: { readonly sgd?: string; readonly adam?: string };
  readonly table: string;
  readonly files: readonly string[];
}

function loadOrThrow(task: string, seed: number, dataDir: string | undefined): LoadedTask {
  const loaded = loadTask(task, { seed, ...(dataDir !== undefined ? { dataDir } : {}) });
  if (E.isLeft(loaded)) throw new ExperimentError(loaded.left.message, 2);
  return loaded.right;
}

/** The validation loss of a finished run's final parameters (from its last checkpoint). */
function finalValidationLoss(dir: string, steps: number, loaded: LoadedTask): number {
  const path = join(dir, RUN_FILES.checkpoint);
  const ck = readRunCheckpoint(path);
  if (E.isLeft(ck)) throw new ExperimentError(ck.left.message, 1);
  if (ck.right.step !== steps) throw new ExperimentError(`${path}: a checkpoint of step ${ck.right.step}, expected the horizon ${steps}`, 1);
  const data = ck.right.state;
  const xData = data !== null && typeof data === 'object' && !Array.isArray(data) ? (data as Record<string, unknown>)['x'] : undefined;
  if (xData === undefined) throw new ExperimentError(`${path}: its state has no parameters x`, 1);
  const x = materializeState(xData as Parameters<typeof materializeState>[0]) as tf.Tensor1D;
  try {
    return meanLossOn(loaded.objective, x, loaded.splits.validation!);
  } finally {
    disposeAll(x);
  }
}

/**
 * Trains every grid point × seed as the runs of an experiment in `outDir` (resumable: finished
 * runs are kept), scores each on the validation split and writes tune.json and tune.md.
 */
export async function runTune(o: TuneOptions): Promise<TuneOutcome> {
  const first = loadOrThrow(o.task, 0, o.dataDir);
  if (first.splits.validation === undefined || first.splits.validation.count === 0)
    throw new ExperimentError(`--task ${o.task}: its data has no validation split to score on`, 2);
  const points = tunePoints(o.grid, DEFAULT_POWER);
  const setting = tuneSetting(o.task, points, o.steps);
  const params: ExperimentParams = {
    steps: o.steps,
    seeds: o.seeds,
    l2o: 'default',
    trainSubset: TUNE_TRAIN_SUBSET,
    ...(o.dataDir !== undefined ? { dataDir: o.dataDir } : {}),
  };
  const outcome = await runExperiment({
    setting,
    params,
    outDir: o.outDir,
    jobs: o.jobs,
    executor: o.executor,
    progress: o.progress,
    commandLine: o.commandLine,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  const tasks = new Map<number, LoadedTask>([[0, first]]);
  const taskFor = (seed: number) => tasks.get(seed) ?? tasks.set(seed, loadOrThrow(o.task, seed, o.dataDir)).get(seed)!;
  const planned = planRuns(setting, params);
  const rows: TuneRow[] = points.map((p) => {
    const seeds: SeedScore[] = planned
      .filter((r) => r.entry.id === p.id)
      .map((r) => {
        const dir = join(o.outDir, r.dir);
        const state = runState(dir);
        if (state.kind === 'diverged') return { seed: r.seed, validationLoss: Infinity, diverged: true };
        if (state.kind !== 'finished') throw new ExperimentError(`${r.id}: not finished (${state.kind}); rerun the same command`, 1);
        return { seed: r.seed, validationLoss: finalValidationLoss(dir, o.steps, taskFor(r.seed)), diverged: false };
      });
    return { point: p.id, optimizer: p.optimizer, config: p.config, score: scoreOf(seeds), seeds };
  });
  const sgd = winnerOf(rows, 'sgd')?.point;
  const adam = winnerOf(rows, 'adam')?.point;
  const table = tuneTable(rows, o.steps);
  const finite = (x: number) => (Number.isFinite(x) ? x : null);
  const json = {
    task: o.task,
    steps: o.steps,
    seeds: o.seeds,
    command: o.commandLine,
    backend: o.backend,
    criterion: `mean over seeds of the mean cross-entropy on the whole validation split (${first.splits.validation.count} examples) at step ${o.steps}; a diverged seed scores +∞ (null here)`,
    grid: o.grid,
    defaults: first.task.defaults,
    winners: { ...(sgd ? { sgd } : {}), ...(adam ? { adam } : {}) },
    rows: rows.map((r) => ({ ...r, score: finite(r.score), seeds: r.seeds.map((s) => ({ ...s, validationLoss: finite(s.validationLoss) })) })),
  };
  const jsonPath = join(o.outDir, 'tune.json');
  const mdPath = join(o.outDir, 'tune.md');
  writeJsonAtomic(jsonPath, json);
  writeFileAtomic(
    mdPath,
    `# Fallbacks tuned on ${o.task}\n\n\`${o.commandLine}\`\n\n${json.criterion}.\n\n${table}\n\n` +
      `Winners: SGDnm ${sgd ?? 'none (every point diverged)'}; Adam ${adam ?? 'none (every point diverged)'}. ` +
      `Training-loss curves of every point: claims.md and the figure.\n`,
  );
  return {
    task: o.task,
    steps: o.steps,
    seeds: o.seeds,
    command: o.commandLine,
    grid: o.grid,
    defaults: first.task.defaults,
    rows,
    winners: json.winners,
    table,
    files: [...outcome.files, jsonPath, mdPath],
  };
}
