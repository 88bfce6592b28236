import * as E from 'fp-ts/lib/Either.js';
import { loadDataset } from '../data/index.js';
import type { Splits } from '../data/dataset.js';
import { mlp } from '../optimizee/mlp.js';
import type { Objective } from '../optimizee/objective.js';
import { findTask, sgdDefaults, type Task } from './registry.js';

// The tasks without their data loaders (browser-safe) live in registry.ts.
export { TASKS, TASK_IDS, findTask, type Task, type TaskDefaults } from './registry.js';

export interface LoadedTask {
  readonly task: Task;
  readonly splits: Splits;
  readonly objective: Objective;
}

export function loadTask(id: string, opts: { dataDir?: string; seed: number }): E.Either<Error, LoadedTask> {
  return E.chain((task: Task) =>
    E.chain((splits: Splits) => E.tryCatch(() => ({ task, splits, objective: task.objective(splits) }), E.toError))(loadDataset(task.dataset, opts)),
  )(findTask(id));
}

/** The task of a live feed: an MLP features-20-classes (sigmoid), trained on what arrives. */
export const LIVE_TASK_ID = 'mlp';

export function liveMlpTask(features: number, classes: number): LoadedTask {
  const empty = (name: string) => ({ name, x: new Float32Array(0), y: new Int32Array(0), shape: [features], count: 0, classes });
  return {
    task: {
      id: LIVE_TASK_ID,
      dataset: 'live',
      describe: `MLP ${features}-20-${classes} (sigmoid) on a live feed`,
      defaults: { sgd: sgdDefaults(50_000), adamLr: 0.001 },
      objective: () => mlp([features, 20, classes]),
    },
    splits: { train: empty('live/train'), test: empty('live/test') },
    objective: mlp([features, 20, classes]),
  };
}
