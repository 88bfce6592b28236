import type { StepEvent } from '../src/runs/events.js';

/** What the page can train: the 2-D datasets of the paper, or points a person draws. */
export const DATASETS = ['spirals', 'circles', 'drawn'] as const;
export type DatasetChoice = (typeof DATASETS)[number];

/** The optimizers on offer, by the names the page and its links use. */
export const OPTIMIZERS = {
  sgd: 'SGDnm',
  adam: 'Adam',
  l2o: 'L2O',
  gl2o: 'GL2O',
  lgl2o: 'LGL2O',
  'lgl2o-anchor': 'anchored LGL2O',
} as const;
export type OptimizerChoice = keyof typeof OPTIMIZERS;

export const BACKEND_CHOICES = ['wasm', 'webgpu', 'webgl', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export const CHECKPOINTS = ['mlp-mnist', 'conv-mnist', 'feature-mlp', 'feature-mlp-guard'] as const;
export type CheckpointChoice = (typeof CHECKPOINTS)[number];

/** One run as the page asks for it; unset numbers take the task's defaults. */
export interface RunSpec {
  readonly id: number;
  readonly dataset: DatasetChoice;
  readonly optimizer: OptimizerChoice;
  readonly k: number;
  readonly m: number;
  /** Learning rate of the hand-designed optimizer (SGDnm, Adam, or the guard's fallback). */
  readonly lr: number | undefined;
  readonly seed: number;
  readonly steps: number;
  readonly checkpoint: CheckpointChoice;
}

/** The grid on which the decision boundary is drawn: cells × cells over [−extent, extent]². */
export const GRID = { cells: 48, extent: 1.6 } as const;

export type ToWorker =
  | { readonly type: 'init'; readonly backend: BackendChoice | undefined }
  | { readonly type: 'start'; readonly run: RunSpec }
  | { readonly type: 'pause' | 'resume' | 'stop'; readonly id: number }
  | { readonly type: 'point'; readonly x: readonly [number, number]; readonly y: 0 | 1 }
  | { readonly type: 'reset' };

export type FromWorker =
  | { readonly type: 'ready'; readonly backend: string }
  | { readonly type: 'data'; readonly id: number; readonly x: Float32Array; readonly y: Int32Array }
  | { readonly type: 'events'; readonly id: number; readonly events: readonly StepEvent[]; readonly tensors: number }
  | { readonly type: 'boundary'; readonly id: number; readonly p: Float32Array }
  | { readonly type: 'mixed'; readonly id: number; readonly draws: number }
  | { readonly type: 'done'; readonly id: number }
  | { readonly type: 'failed'; readonly id: number | undefined; readonly message: string };
