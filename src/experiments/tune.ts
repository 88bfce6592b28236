import type * as tf from '@tensorflow/tfjs';
import type { Dataset } from '../data/dataset.js';
import { slice } from '../data/dataset.js';
import { evaluate } from '../optimizee/evaluate.js';
import type { Objective } from '../optimizee/objective.js';
import type { TaskDefaults } from '../tasks/registry.js';
import type { HandDesignedConfig } from '../config/run.js';
import { fmt } from './claims.js';
import type { Entry, Setting } from './settings.js';

/**
 * `lgl2o tune`: a grid over the hand-designed fallbacks' settings (SGDnm's η0 and τ, Adam's
 * learning rate), each point trained for a fixed horizon on a few seeds and scored on the
 * task's validation split (docs/tuning.md).
 */
export interface TuneGrid {
  readonly sgdLr: readonly number[];
  readonly sgdTau: readonly number[];
  readonly adamLr: readonly number[];
}

/** η0 and Adam's rate on a half-decade log grid; the specification's η0 = 3 and Adam rates are on it. */
export const DEFAULT_SGD_LRS = [0.03, 0.1, 0.3, 1, 3] as const;
export const DEFAULT_ADAM_LRS = [0.0003, 0.001, 0.003, 0.01] as const;

/** The default grid of a task: τ is the task's own (at a horizon ≪ τ it barely matters; give --sgd-tau to vary it). */
export const defaultGrid = (d: TaskDefaults): TuneGrid => ({ sgdLr: [...DEFAULT_SGD_LRS], sgdTau: [d.sgd.tau], adamLr: [...DEFAULT_ADAM_LRS] });

/** Default horizon: that of the committed experiments (conv-* 1,000 steps, the others 2,000). */
export const defaultTuneSteps = (taskId: string): number => (taskId.startsWith('conv-') ? 1000 : 2000);

/** One grid point: an optimizer config with every setting given (nothing left to the task's defaults). */
export interface TunePoint {
  readonly id: string;
  readonly optimizer: 'sgd' | 'adam';
  readonly config: HandDesignedConfig;
}

export function tunePoints(grid: TuneGrid, power: number): TunePoint[] {
  const sgd = grid.sgdLr.flatMap((lr) =>
    grid.sgdTau.map((tau): TunePoint => ({ id: `sgd,lr=${lr},tau=${tau}`, optimizer: 'sgd', config: { type: 'sgd', lr, tau, power } })),
  );
  const adam = grid.adamLr.map((lr): TunePoint => ({ id: `adam,lr=${lr}`, optimizer: 'adam', config: { type: 'adam', lr } }));
  return [...sgd, ...adam];
}

/** Why a grid cannot be run, or undefined: an empty grid, a non-positive or non-finite number, a repeated value. */
export function gridProblem(grid: TuneGrid): string | undefined {
  const axes = [
    ['--sgd-lr', grid.sgdLr],
    ['--sgd-tau', grid.sgdTau],
    ['--adam-lr', grid.adamLr],
  ] as const;
  if (grid.sgdLr.length === 0 && grid.adamLr.length === 0) return 'the grid is empty: give at least one value to --sgd-lr or --adam-lr';
  if (grid.sgdLr.length > 0 && grid.sgdTau.length === 0) return '--sgd-tau: no value (SGDnm needs at least one τ)';
  for (const [flag, values] of axes) {
    const bad = values.find((v) => !(Number.isFinite(v) && v > 0));
    if (bad !== undefined) return `${flag} ${bad}: expected a positive number`;
    if (new Set(values).size !== values.length) return `${flag}: a value is repeated`;
  }
  return undefined;
}

const COLORS = ['#1f77b4', '#aec7e8', '#ff7f0e', '#ffbb78', '#2ca02c', '#98df8a', '#d62728', '#ff9896', '#9467bd', '#c5b0d5', '#8c564b', '#e377c2'];

/** The grid as an experiment (one entry per point, no claims): the experiment runner trains it. */
export function tuneSetting(taskId: string, points: readonly TunePoint[], steps: number): Setting {
  const entries: Entry[] = points.map((p, i) => ({ id: p.id, label: p.id, color: COLORS[i % COLORS.length]!, config: () => p.config }));
  return { id: `tune-${taskId}`, task: taskId, title: `Fallbacks tuned on ${taskId}`, source: 'lgl2o tune', entries, claims: [], defaultSteps: steps };
}

/** Examples evaluated at once: bounds the tensors of a validation pass. */
export const VALIDATION_CHUNK = 1000;

/** Mean loss of `x` over every example of `ds`, evaluated in chunks (each chunk's mean weighted by its size). */
export function meanLossOn(objective: Objective, x: tf.Tensor1D, ds: Dataset, chunk = VALIDATION_CHUNK): number {
  let sum = 0;
  for (let start = 0; start < ds.count; start += chunk) {
    const part = slice(ds, start, Math.min(ds.count, start + chunk));
    const { loss } = evaluate(objective, x, { x: part.x, y: part.y, shape: part.shape, size: part.count });
    sum += loss * part.count;
  }
  return sum / ds.count;
}

/** One seed of one point: its validation loss at the horizon, or why it has none (diverged: scored +∞). */
export interface SeedScore {
  readonly seed: number;
  readonly validationLoss: number;
  readonly diverged: boolean;
}

export interface TuneRow {
  readonly point: string;
  readonly optimizer: 'sgd' | 'adam';
  readonly config: HandDesignedConfig;
  /** Mean validation loss over the seeds at the horizon; +∞ when any seed diverged or ended non-finite. */
  readonly score: number;
  readonly seeds: readonly SeedScore[];
}

/** A point's score: the mean over its seeds, +∞ if one of them diverged or is not finite. */
export function scoreOf(seeds: readonly SeedScore[]): number {
  if (seeds.length === 0 || seeds.some((s) => s.diverged || !Number.isFinite(s.validationLoss))) return Infinity;
  return seeds.reduce((a, s) => a + s.validationLoss, 0) / seeds.length;
}

/** The best row of one optimizer (lowest score; ties go to the earlier grid point), or undefined when every point scored +∞. */
export function winnerOf(rows: readonly TuneRow[], optimizer: 'sgd' | 'adam'): TuneRow | undefined {
  let best: TuneRow | undefined;
  for (const r of rows) if (r.optimizer === optimizer && Number.isFinite(r.score) && (best === undefined || r.score < best.score)) best = r;
  return best;
}

const cell = (x: number): string => (Number.isFinite(x) ? fmt(x) : '+∞');

export function tuneTable(rows: readonly TuneRow[], steps: number): string {
  const winners = new Set((['sgd', 'adam'] as const).map((o) => winnerOf(rows, o)?.point));
  const head = [`| optimizer | setting | validation loss at step ${steps}, mean over seeds | per seed | winner |`, '| --- | --- | ---: | --- | :---: |'];
  const line = (r: TuneRow) => {
    const setting = r.point.replace(/^(sgd|adam),/, '').replaceAll(',', ', ');
    const perSeed = r.seeds.map((s) => `${s.seed}: ${s.diverged ? 'diverged' : cell(s.validationLoss)}`).join('; ');
    return `| ${r.optimizer === 'sgd' ? 'SGDnm' : 'Adam'} | ${setting} | ${cell(r.score)} | ${perSeed} | ${winners.has(r.point) ? '**yes**' : ''} |`;
  };
  return [...head, ...rows.map(line)].join('\n');
}
