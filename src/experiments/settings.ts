import * as E from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import type { HandDesignedConfig, L2OConfig, LossGuardConfig, OptimizerConfig } from '../config/run.js';
import { DEFAULT_K, DEFAULT_M } from '../guard/lossGuard.js';

type GuardSettings = Omit<t.TypeOf<typeof LossGuardConfig>, 'type' | 'learned' | 'fallback'>;

/** One line of an experiment: an optimizer or guard, built around the experiment's learned optimizer. */
export interface Entry {
  readonly id: string;
  readonly label: string;
  readonly config: (learned: L2OConfig) => OptimizerConfig;
  /** Whether the entry is a loss guard whose rounds carry use_l2o (plotted on the track). */
  readonly guard?: boolean;
  /** Its line's color, the same in every figure. */
  readonly color: string;
  /** A guard's fallback as an entry of its own (its stand-alone run trains on the guard's training batches, seed by seed). */
  readonly fallback?: string;
}

/** Which claims of the paper (and of this project) an experiment measures. */
export type ClaimId =
  | 'l2o-early'
  | 'l2o-late'
  | 'lgl2o-best-of-both'
  | 'gl2o-early'
  | 'ood-tracks-fallback'
  | 'spirals-synergy'
  | 'adam-fallback'
  | 'km-stability'
  | 'anchored'
  | 'anchored-target'
  | 'anchored-paired-target'
  /** One claim per guard whose fallback is an entry of the setting (issue 16). */
  | 'paired-vs-fallback';

export interface Setting {
  readonly id: string;
  readonly task: string;
  readonly title: string;
  /** Where in the paper (or docs/algorithms.md) the setting comes from. */
  readonly source: string;
  readonly entries: readonly Entry[];
  readonly claims: readonly ClaimId[];
  /** Horizon used when `--steps` is not given. */
  readonly defaultSteps: number;
  /** Steps of the loss table printed with the claims. */
  readonly tableSteps?: readonly number[];
}

const SGD = { type: 'sgd' } as const;
const ADAM = { type: 'adam' } as const;
/** Largest k of the adaptive guard in experiments: k + m batches are tensors at once in a round. */
export const ADAPTIVE_MAX_K = 100;

/** A loss guard with the paper's k = m = 10 unless `extra` says otherwise. */
const lgl2o = (id: string, label: string, color: string, extra: GuardSettings = {}, fallback: HandDesignedConfig = SGD): Entry => ({
  id,
  label,
  color,
  guard: true,
  fallback: fallback.type,
  config: (learned) => ({ type: 'lgl2o', learned, fallback, k: DEFAULT_K, m: DEFAULT_M, ...extra }),
});

export const ENTRIES = {
  sgd: { id: 'sgd', label: 'SGDnm', color: '#1f77b4', config: () => SGD },
  adam: { id: 'adam', label: 'Adam', color: '#9467bd', config: () => ADAM },
  l2o: { id: 'l2o', label: 'L2O', color: '#d62728', config: (learned) => learned },
  gl2o: { id: 'gl2o', label: 'GL2O', color: '#ff7f0e', fallback: 'sgd', config: (learned) => ({ type: 'gl2o', learned, fallback: SGD }) },
  lgl2o: lgl2o('lgl2o', 'LGL2O', '#2ca02c'),
  anchor: lgl2o('lgl2o-anchor', 'LGL2O anchored', '#17becf', { anchor: true }),
  adamFallback: lgl2o('lgl2o-adam', 'LGL2O (Adam fallback)', '#8c564b', {}, ADAM),
  k30: lgl2o('lgl2o-k30', 'LGL2O k=m=30', '#e377c2', { k: 30, m: 30 }),
  k100: lgl2o('lgl2o-k100', 'LGL2O k=m=100', '#8c564b', { k: 100, m: 100 }),
  paired: lgl2o('lgl2o-paired', 'LGL2O paired test', '#7f7f7f', { decision: 'paired' }),
  anchorPaired: lgl2o('lgl2o-anchor-paired', 'LGL2O anchored, paired test', '#393b79', { anchor: true, decision: 'paired' }),
  adaptive: lgl2o('lgl2o-adaptive', 'LGL2O adaptive', '#bcbd22', { adaptive: { growth: 2, maxK: ADAPTIVE_MAX_K, shrink: false } }),
} satisfies Record<string, Entry>;

const STANDARD: readonly Entry[] = [ENTRIES.sgd, ENTRIES.adam, ENTRIES.l2o, ENTRIES.gl2o, ENTRIES.lgl2o, ENTRIES.anchor];
const OOD_CLAIMS: readonly ClaimId[] = ['ood-tracks-fallback', 'lgl2o-best-of-both', 'anchored', 'paired-vs-fallback'];

const standard = (id: string, title: string, source: string, claims: readonly ClaimId[], defaultSteps: number): Setting => ({
  id,
  task: id,
  title,
  source,
  entries: STANDARD,
  claims,
  defaultSteps,
});

/** GUARDS_STEPS: the steps of the guards table (issue 5). */
export const GUARDS_STEPS = [100, 200, 500, 1000, 2000, 5000] as const;

/** The experiments of the paper's section 4 (Table 1), §4.6, Appendix H, and this project's guard comparison. */
export const SETTINGS: readonly Setting[] = [
  {
    ...standard(
      'mlp-mnist',
      'MLP on MNIST (in distribution)',
      'paper §4.1, Fig. 3',
      ['l2o-early', 'l2o-late', 'lgl2o-best-of-both', 'gl2o-early', 'anchored', 'paired-vs-fallback'],
      50_000,
    ),
    // the steps at which issue 4 compares L2O with SGDnm and Adam, then the long run
    tableSteps: [100, 200, 500, 1_000, 5_000, 20_000, 50_000],
  },
  standard('conv-mnist', 'ConvNet on MNIST (optimizee out of distribution)', 'paper §4.3, Fig. 6', OOD_CLAIMS, 20_000),
  standard('mlp-fashion', 'MLP on Fashion-MNIST (dataset out of distribution)', 'this project (offline stand-in for §4.2)', OOD_CLAIMS, 50_000),
  standard(
    'mlp-circles',
    'MLP on Circles (dataset out of distribution)',
    'paper §4.2, Fig. 4',
    ['lgl2o-best-of-both', 'anchored', 'paired-vs-fallback'],
    50_000,
  ),
  standard(
    'mlp-spirals',
    'MLP on Spirals (dataset out of distribution)',
    'paper §4.2, Fig. 5',
    ['spirals-synergy', 'lgl2o-best-of-both', 'anchored', 'paired-vs-fallback'],
    50_000,
  ),
  standard('conv-cifar10', 'ConvNet on CIFAR-10 (both out of distribution)', 'paper §4.4, Fig. 7', OOD_CLAIMS, 20_000),
  standard('conv-tinyimagenet50', 'ConvNet on Tiny-ImageNet, 50 classes (both out of distribution)', 'paper §4.5, Fig. 8', OOD_CLAIMS, 20_000),
  {
    id: 'lgl2o-adam',
    task: 'mlp-spirals',
    title: 'Adam as the fallback of LGL2O, MLP on Spirals',
    source: 'paper §4.6, Fig. 9',
    entries: [ENTRIES.sgd, ENTRIES.adam, ENTRIES.l2o, ENTRIES.lgl2o, ENTRIES.adamFallback],
    claims: ['adam-fallback', 'paired-vs-fallback'],
    defaultSteps: 50_000,
  },
  {
    id: 'km-sweep',
    task: 'mlp-circles',
    title: 'LGL2O with k = m ∈ {10, 30, 100}, MLP on Circles',
    source: 'paper Appendix H, Figs. 17-19',
    entries: [ENTRIES.sgd, ENTRIES.l2o, ENTRIES.lgl2o, ENTRIES.k30, ENTRIES.k100],
    claims: ['km-stability', 'paired-vs-fallback'],
    defaultSteps: 50_000,
  },
  {
    id: 'guards',
    task: 'mlp-mnist',
    title: 'Guard rules compared, MLP on MNIST',
    source: 'docs/algorithms.md §4, §4b (issue 5)',
    entries: [ENTRIES.sgd, ENTRIES.l2o, ENTRIES.lgl2o, ENTRIES.k100, ENTRIES.paired, ENTRIES.adaptive, ENTRIES.anchor, ENTRIES.anchorPaired],
    claims: ['l2o-early', 'anchored-target', 'anchored-paired-target', 'paired-vs-fallback'],
    defaultSteps: 5_000,
    tableSteps: GUARDS_STEPS,
  },
];

export const SETTING_IDS = SETTINGS.map((s) => s.id);

export function findSetting(id: string): E.Either<Error, Setting> {
  const s = SETTINGS.find((x) => x.id === id);
  return s ? E.right(s) : E.left(new Error(`experiment ${JSON.stringify(id)}: unknown (known: ${SETTING_IDS.join(', ')})`));
}

/** Steps of the loss table: the setting's own, or 1-2-5 steps from 100 up to the horizon and the horizon. */
export function tableSteps(setting: Setting, horizon: number): number[] {
  const steps = setting.tableSteps ? [...setting.tableSteps] : [100, 1_000, 10_000, 100_000, 1_000_000];
  return [...new Set([...steps.filter((s) => s <= horizon), horizon])].sort((a, b) => a - b);
}
