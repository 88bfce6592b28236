import type { OptimizerConfig } from '../src/config/run.js';

/** The optimizers the benchmark times, as run configs (random-init learned optimizer: its speed does not depend on its weights). */
export const BENCH_CONFIGS: Readonly<Record<string, OptimizerConfig>> = {
  sgd: { type: 'sgd' },
  adam: { type: 'adam' },
  l2o: { type: 'l2o', checkpoint: 'random:1' },
  gl2o: { type: 'gl2o', learned: { type: 'l2o', checkpoint: 'random:1' } },
  lgl2o: { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, k: 10, m: 10 },
  'lgl2o-anchor': { type: 'lgl2o', learned: { type: 'l2o', checkpoint: 'random:1' }, k: 10, m: 10, anchor: true },
};

export const BENCH_NAMES = Object.keys(BENCH_CONFIGS);
