import { DecodeError } from '../codec/decode.js';
import { DEFAULT_BATCH_SIZE } from '../data/sampler.js';
import { LOSS_GUARD_DEFAULTS } from '../guard/lossGuard.js';
import type { OptimizerConfig, RunConfig } from './run.js';

const GiB = 1024 ** 3;

// node:os looked up at run time: this module is also bundled for browsers (the web demo), which get the 2 GiB cap.
const totalmem = globalThis.process?.getBuiltinModule('node:os')?.totalmem();

/**
 * Memory one run may plan for its batches and its parameters: a quarter of the machine's
 * memory, at most 2 GiB (half the 4 GiB the wasm backend's heap can grow to).
 */
export const MEMORY_LIMIT = totalmem === undefined ? 2 * GiB : Math.min(2 * GiB, Math.floor(totalmem / 4));

/** Bytes as a short text: 1.5 KiB, 2 GiB. */
export function formatBytes(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return i === 0 ? `${n} bytes` : `${Number(n.toPrecision(3))} ${units[i]}`;
}

/** A batch of float32 features and one label per example. */
export const batchBytes = (batchSize: number, features: number): number => batchSize * (features + 1) * 4;

/** The most batches a round of this optimizer will ever hold (adaptive k and m grow to maxK and the same ratio). */
export function maxBatchesPerRound(opt: OptimizerConfig): number {
  if (opt.type !== 'lgl2o') return 1;
  const k = opt.k ?? LOSS_GUARD_DEFAULTS.k;
  const m = opt.m ?? LOSS_GUARD_DEFAULTS.m;
  if (opt.adaptive === undefined) return k + m;
  const maxK = Math.max(k, opt.adaptive.maxK);
  return maxK + Math.max(m, Math.round((maxK * m) / k));
}

/**
 * float32 values held per parameter: the point, its gradient and a candidate, plus the
 * optimizers' states (a learned optimizer of the default shape keeps 2 layers × 20 hidden ×
 * (h, c) = 80 per coordinate); a guard holds two candidates of both optimizers.
 */
function valuesPerParameter(opt: OptimizerConfig): number {
  const hand = (type: string) => (type === 'adam' ? 2 : type === 'momentum' ? 1 : 0);
  switch (opt.type) {
    case 'sgd':
    case 'momentum':
    case 'adam':
      return 3 + hand(opt.type);
    case 'l2o':
      return 3 + 80;
    case 'gl2o':
    case 'lgl2o':
      return 4 + 2 * (80 + hand(opt.fallback?.type ?? 'sgd'));
  }
}

/** Parameters of the live task's MLP features-20-classes. */
const liveParameters = (features: number, classes: number) => features * 20 + 20 + 20 * classes + classes;

/**
 * Refuses, before any batch is drawn, a run whose batches or parameters need more memory than
 * `limit`: (live input) the MLP with its optimizer state, a batch, a round's k + m batches.
 * Each problem names the config field and its flag.
 */
export function checkMemory(config: RunConfig, features: number, limit = MEMORY_LIMIT): void {
  const problems: string[] = [];
  const over = `more than the memory limit of ${formatBytes(limit)}`;
  const opt = config.optimizer;
  if (config.input) {
    const params = liveParameters(features, config.input.classes);
    const bytes = params * 4 * valuesPerParameter(opt);
    if (bytes > limit)
      problems.push(
        `input.features (--features): ${features} features make an MLP of ${params} parameters, which ${opt.type} needs about ${formatBytes(bytes)} for, ${over}`,
      );
  }
  const batchSize = config.batchSize ?? DEFAULT_BATCH_SIZE;
  const batch = batchBytes(batchSize, features);
  const rounds = maxBatchesPerRound(opt);
  if (batch > limit)
    problems.push(`batchSize (--batch-size): a batch of ${batchSize} examples × ${features} float32 values needs ${formatBytes(batch)}, ${over}`);
  else if (rounds * batch > limit && opt.type === 'lgl2o') {
    const field =
      opt.adaptive !== undefined
        ? 'optimizer.adaptive.maxK (--adaptive-max-k)'
        : (opt.k ?? LOSS_GUARD_DEFAULTS.k) >= (opt.m ?? LOSS_GUARD_DEFAULTS.m)
          ? 'optimizer.k (--k)'
          : 'optimizer.m (--m)';
    const held = opt.adaptive !== undefined ? `up to ${rounds} batches (k + m grown to maxK)` : `k + m = ${rounds} batches`;
    problems.push(`${field}: a round holds ${held} of ${formatBytes(batch)}, ${formatBytes(rounds * batch)} in all, ${over}; lower k, m or the batch size`);
  }
  if (problems.length > 0) throw new DecodeError('memory limit', problems);
}
