import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import type { CommandUnknownOpts as Command } from '@commander-js/extra-typings';
import { decodeWith, parseJson } from '../../src/codec/decode.js';
import { READ_LIMITS, readTextFile } from '../../src/codec/readText.js';
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

function liveInputFromFlags(f: RunFlags): { live: string; features: number; classes: number; strict?: boolean; idleTimeout?: number } {
  if (f.features === undefined) throw new CliError(`--input ${f.input}: needs --features (values per record)`);
  if (f.classes === undefined) throw new CliError(`--input ${f.input}: needs --classes (number of labels)`);
  return { live: f.input!, features: f.features, classes: f.classes, ...(f.strict ? { strict: true } : {}), ...defined({ idleTimeout: f.idleTimeout }) };
}

const LEARNED = ['l2o', 'gl2o', 'lgl2o'];
const GUARDS = ['gl2o', 'lgl2o'];
/** Which --optimizer values each flag applies to (flags not listed apply to all). */
const ONLY_WITH: Record<string, readonly string[]> = {
  l2o: LEARNED,
  fallback: GUARDS,
  k: ['lgl2o'],
  m: ['lgl2o'],
  anchor: ['lgl2o'],
  decision: ['lgl2o'],
  z: ['lgl2o'],
  statePolicy: ['lgl2o'],
  adaptive: ['lgl2o'],
  backoff: ['lgl2o'],
  delta: ['gl2o'],
  theta: ['gl2o'],
  sequence: ['gl2o'],
};
/** Flags that shape the run and so cannot go with --config, which holds the whole run. */
const CONFIG_FIELDS = [
  ...['task', 'input', 'features', 'classes', 'strict', 'optimizer', 'steps', 'seed', 'batchSize', 'evalEvery', 'data', 'lr', 'tau', 'power'],
  ...Object.keys(ONLY_WITH),
  ...['adaptiveGrowth', 'adaptiveMaxK', 'adaptiveShrink'],
];

const alternatives = (xs: readonly string[]) => (xs.length === 1 ? xs[0]! : `${xs.slice(0, -1).join(', ')} or ${xs.at(-1)!}`);

/** The hand-designed optimizer the schedule flags (--lr, --tau, --power) would configure, if any. */
function handDesignedOf(f: RunFlags): string | undefined {
  if (['sgd', 'momentum', 'adam'].includes(f.optimizer)) return f.optimizer;
  return GUARDS.includes(f.optimizer) ? f.fallback : undefined;
}

/**
 * Refuses flags that would be silently ignored: run flags beside --config, live-input flags
 * without --input, flags of another optimizer, schedule flags the optimizer has no use for.
 */
export function checkRunFlags(f: RunFlags, cmd: Command): void {
  const given = (name: string) => cmd.getOptionValueSource(name) === 'cli';
  const flag = (name: string) => cmd.options.find((o) => o.attributeName() === name)?.long ?? name;
  if (f.config !== undefined) {
    const extra = CONFIG_FIELDS.filter(given);
    if (extra.length > 0) {
      throw new CliError(`--config ${f.config}: the file holds the whole run; drop ${extra.map(flag).join(', ')} (or put them in the file)`);
    }
    return;
  }
  for (const name of ['features', 'classes', 'strict']) {
    if (given(name) && f.input === undefined) throw new CliError(`${flag(name)}: only for a live input (--input live:...)`);
  }
  for (const [name, optimizers] of Object.entries(ONLY_WITH)) {
    if (given(name) && !optimizers.includes(f.optimizer)) {
      throw new CliError(`${flag(name)}: only with --optimizer ${alternatives(optimizers)} (this run uses ${f.optimizer})`);
    }
  }
  for (const name of ['adaptiveGrowth', 'adaptiveMaxK', 'adaptiveShrink']) {
    if (given(name) && !f.adaptive) throw new CliError(`${flag(name)}: only with --adaptive`);
  }
  const hand = handDesignedOf(f);
  if (given('lr') && hand === undefined) {
    throw new CliError(`--lr: the learned optimizer has no learning rate (this run uses --optimizer ${f.optimizer})`);
  }
  for (const name of ['tau', 'power']) {
    if (given(name) && hand !== 'sgd' && hand !== 'momentum') {
      throw new CliError(`${flag(name)}: only for the sgd or momentum schedule (this run's hand-designed optimizer is ${hand ?? 'none'})`);
    }
  }
}

/** The run's config: decoded from `--config FILE`, or assembled from the flags. */
export function runConfigFrom(flags: RunFlags): RunConfig {
  const raw: unknown = flags.config
    ? pipe(
        readTextFile(flags.config, READ_LIMITS.config, 'a run config'),
        E.mapLeft((e) => new CliError(`--config ${e.message}`)),
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
