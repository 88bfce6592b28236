import { BACKEND_CHOICES, CHECKPOINTS, DATASETS, OPTIMIZERS, type BackendChoice, type RunSpec } from './protocol.js';

/** What a link configures: the run, whether it starts on load, and the backend. */
export interface PageParams {
  readonly run: Omit<RunSpec, 'id'>;
  readonly autostart: boolean;
  readonly backend: BackendChoice | undefined;
}

export const DEFAULTS: PageParams['run'] = {
  dataset: 'spirals',
  optimizer: 'lgl2o',
  k: 10,
  m: 10,
  lr: undefined,
  seed: 1,
  steps: 5000,
  checkpoint: 'feature-mlp', // the default learned optimizer, as in `lgl2o run`
};

const oneOf = <T extends string>(name: string, allowed: readonly T[], value: string): T => {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new Error(`${name}=${value}: expected one of ${allowed.join(', ')}`);
  return found;
};

const number = (name: string, value: string, min: number, max: number, integer: boolean): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    throw new Error(`${name}=${value}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  return n;
};

/** Reads the link's parameters; a bad one is an error naming it and what was expected. */
export function parseParams(search: URLSearchParams): PageParams {
  const known = new Set(['dataset', 'optimizer', 'k', 'm', 'lr', 'seed', 'steps', 'checkpoint', 'autostart', 'backend']);
  for (const key of search.keys()) if (!known.has(key)) throw new Error(`${key}: unknown parameter (known: ${[...known].join(', ')})`);
  const get = (key: string) => search.get(key) ?? undefined;
  const opt = <T>(key: string, read: (v: string) => T, fallback: T): T => {
    const v = get(key);
    return v === undefined ? fallback : read(v);
  };
  const lr = get('lr');
  return {
    run: {
      dataset: opt('dataset', (v) => oneOf('dataset', DATASETS, v), DEFAULTS.dataset),
      optimizer: opt('optimizer', (v) => oneOf('optimizer', Object.keys(OPTIMIZERS) as (keyof typeof OPTIMIZERS)[], v), DEFAULTS.optimizer),
      k: opt('k', (v) => number('k', v, 1, 1000, true), DEFAULTS.k),
      m: opt('m', (v) => number('m', v, 1, 1000, true), DEFAULTS.m),
      lr: lr === undefined || lr === '' ? undefined : number('lr', lr, 1e-9, 1e9, false),
      seed: opt('seed', (v) => number('seed', v, 0, 2 ** 32 - 1, true), DEFAULTS.seed),
      steps: opt('steps', (v) => number('steps', v, 1, 10_000_000, true), DEFAULTS.steps),
      checkpoint: opt('checkpoint', (v) => oneOf('checkpoint', CHECKPOINTS, v), DEFAULTS.checkpoint),
    },
    autostart: opt('autostart', (v) => oneOf('autostart', ['0', '1'], v) === '1', false),
    backend: opt('backend', (v): BackendChoice | undefined => oneOf('backend', BACKEND_CHOICES, v), undefined),
  };
}

/** The link that opens this run again. */
export function toSearch(run: PageParams['run'], backend: BackendChoice | undefined): string {
  const p = new URLSearchParams({ dataset: run.dataset, optimizer: run.optimizer, k: String(run.k), m: String(run.m) });
  p.set('seed', String(run.seed));
  p.set('steps', String(run.steps));
  if (run.lr !== undefined) p.set('lr', String(run.lr));
  if (run.checkpoint !== DEFAULTS.checkpoint) p.set('checkpoint', run.checkpoint);
  if (backend !== undefined) p.set('backend', backend);
  return `?${p.toString()}`;
}
