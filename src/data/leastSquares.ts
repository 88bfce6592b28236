import { Rng } from '../tensor/rng.js';
import type { Dataset, Splits } from './dataset.js';

export interface LeastSquaresOptions {
  readonly dim: number;
  readonly count: number;
  /** Standard deviation of the target noise. */
  readonly noise: number;
}

/**
 * Data for the stochastic quadratic task ½‖Wx − y‖²: rows w_i ~ N(0, I/dim), a hidden
 * x_true ~ N(0, I), targets y_i = w_i·x_true + noise. Train and test rows share x_true.
 */
export function leastSquaresData(opts: LeastSquaresOptions, seed: number): Splits {
  const rng = Rng.seeded(seed);
  const truth = Float64Array.from({ length: opts.dim }, () => rng.normal());
  const make = (name: string, count: number): Dataset => {
    const x = new Float32Array(count * opts.dim);
    const y = new Float32Array(count);
    const scale = 1 / Math.sqrt(opts.dim);
    for (let i = 0; i < count; i++) {
      let dot = 0;
      for (let j = 0; j < opts.dim; j++) {
        const w = scale * rng.normal();
        x[i * opts.dim + j] = w;
        dot += w * truth[j]!;
      }
      y[i] = dot + opts.noise * rng.normal();
    }
    return { name, x, y, shape: [opts.dim], count };
  };
  return { train: make('quadratic/train', opts.count), test: make('quadratic/test', Math.max(128, Math.floor(opts.count / 5))) };
}
