import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { readFileSync } from 'node:fs';
import { decodeWith, parseJson } from '../../src/codec/decode.js';
import { RunConfig, type HandDesignedConfig, type OptimizerConfig } from '../../src/config/run.js';
import { CliError } from '../errors.js';
import type { RunFlags } from './runFlags.js';

const defined = <T extends object>(o: T): Partial<T> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;

function handDesigned(type: string, f: RunFlags): HandDesignedConfig {
  const schedule = defined({ lr: f.lr, tau: f.tau, power: f.power });
  switch (type) {
    case 'sgd':
      return { type: 'sgd', ...schedule };
    case 'momentum':
      return { type: 'momentum', ...schedule };
    case 'adam':
      return { type: 'adam', ...defined({ lr: f.lr }) };
    default:
      throw new CliError(`--fallback ${type}: expected one of sgd, momentum, adam`);
  }
}

function optimizerFromFlags(f: RunFlags): OptimizerConfig {
  const learned = { type: 'l2o' as const, ...defined({ checkpoint: f.l2o }) };
  switch (f.optimizer) {
    case 'sgd':
    case 'momentum':
    case 'adam':
      return handDesigned(f.optimizer, f);
    case 'l2o':
      return learned;
    case 'gl2o':
      return { type: 'gl2o', learned, fallback: handDesigned(f.fallback, f), ...defined({ delta: f.delta, theta: f.theta, sequence: f.sequence }) };
    case 'lgl2o':
      return {
        type: 'lgl2o',
        learned,
        fallback: handDesigned(f.fallback, f),
        ...defined({ k: f.k, m: f.m, anchor: f.anchor, decision: f.decision, alpha: f.alpha, z: f.z, statePolicy: f.statePolicy, backoff: f.backoff }),
        ...(f.adaptive ? { adaptive: { growth: f.adaptiveGrowth, maxK: f.adaptiveMaxK, shrink: f.adaptiveShrink ?? false } } : {}),
      };
    default:
      throw new CliError(`--optimizer ${f.optimizer}: expected one of sgd, momentum, adam, l2o, gl2o, lgl2o`);
  }
}

function liveInputFromFlags(f: RunFlags): { live: string; features: number; classes: number; strict?: boolean } {
  if (f.features === undefined) throw new CliError(`--input ${f.input}: needs --features (values per record)`);
  if (f.classes === undefined) throw new CliError(`--input ${f.input}: needs --classes (number of labels)`);
  return { live: f.input!, features: f.features, classes: f.classes, ...(f.strict ? { strict: true } : {}) };
}

/** The run's config: decoded from `--config FILE`, or assembled from the flags. */
export function runConfigFrom(flags: RunFlags): RunConfig {
  const raw: unknown = flags.config
    ? pipe(
        E.tryCatch(
          () => readFileSync(flags.config!, 'utf8'),
          (e) => new CliError(`--config ${flags.config}: cannot read (${e instanceof Error ? e.message : String(e)})`),
        ),
        E.chainW((text) => parseJson(text, flags.config!)),
        E.getOrElseW((e) => {
          throw new CliError(e.message);
        }),
      )
    : {
        task: flags.task,
        optimizer: optimizerFromFlags(flags),
        steps: flags.steps,
        seed: flags.seed,
        batchSize: flags.batchSize,
        ...defined({ evalEvery: flags.evalEvery, dataDir: flags.data }),
        ...(flags.input !== undefined ? { input: liveInputFromFlags(flags) } : {}),
      };
  return pipe(
    decodeWith(RunConfig, raw, flags.config ?? 'flags'),
    E.getOrElseW((e) => {
      throw new CliError(e.message);
    }),
  );
}
