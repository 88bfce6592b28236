import { Command, Option } from '@commander-js/extra-typings';
import { DEFAULT_BATCH_SIZE } from '../../src/data/sampler.js';
import { LOSS_GUARD_DEFAULTS } from '../../src/guard/lossGuard.js';
import { MU_SEQUENCES, SAFEGUARD_DEFAULTS } from '../../src/guard/safeguard.js';
import { DEFAULT_POWER } from '../../src/optim/schedule.js';
import { DEFAULT_SETTINGS } from '../../src/runs/settings.js';
import { LIVE_TASK_ID, TASK_IDS } from '../../src/tasks/index.js';
import { LIVE_LIMITS } from '../../streams/live.js';
import { L2O_HELP, integerAtLeast, numberIn, positiveNumber } from '../options.js';

/** `lgl2o run` and its flags, declared once: `RunFlags` is inferred from these declarations. */
export function runOptions() {
  return new Command('run')
    .description('train one optimizee with one optimizer or guard, writing DIR/events.ndjson and DIR/run.json')
    .option('--config <file>', 'a JSON run config (see README); flags below are then ignored')
    .addOption(
      new Option('--task <id>', `the optimizee and its data (${LIVE_TASK_ID}: an MLP on --input)`).choices([...TASK_IDS, LIVE_TASK_ID]).default('mlp-spirals'),
    )
    .option(
      '--input <source>',
      `train on a live NDJSON feed {"x": [...], "y": label}: live:stdin, live:file:PATH (followed as it grows) or live:tcp:PORT (127.0.0.1); needs --task mlp. A loss guard takes each round's k training batches and then its m comparison batches from the feed, in arrival order`,
    )
    .option('--features <n>', 'live input: values per record', integerAtLeast(1))
    .option('--classes <n>', 'live input: number of classes (labels 0..n-1)', integerAtLeast(2))
    .option('--strict', 'live input: a malformed line stops the run, naming its line number (default: counted and skipped)')
    .option(
      '--idle-timeout <s>',
      `live input: seconds without a complete line before the feed counts as stalled and the run stops, and before a TCP client is disconnected; 0 waits forever (default ${LIVE_LIMITS.idleTimeoutMs / 1000})`,
      numberIn(0, 1e9),
    )
    .addOption(new Option('--optimizer <name>', 'optimizer or guard').choices(['sgd', 'momentum', 'adam', 'l2o', 'gl2o', 'lgl2o'] as const).default('lgl2o'))
    .option('--steps <n>', 'optimizer steps', integerAtLeast(1), 1000)
    .option('--seed <n>', 'seed of the initial parameters and the batch order', integerAtLeast(0), 0)
    .option('--batch-size <n>', 'examples per mini-batch', integerAtLeast(1), DEFAULT_BATCH_SIZE)
    .option('--eval-every <n>', 'evaluate test loss and accuracy every n steps on a fixed test subset', integerAtLeast(1))
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--out <dir>', 'output directory', 'results/run')
    .option('--force', 'overwrite an output directory that holds another run', false)
    .option('--resume <dir>', 'continue the run saved in DIR from its last checkpoint, with its saved config')
    .option(
      '--checkpoint-every <rounds>',
      `write DIR/checkpoint.json every n rounds (default ${DEFAULT_SETTINGS.checkpointEvery}); also on SIGINT/SIGTERM/SIGHUP and at the end`,
      integerAtLeast(1),
    )
    .option('--log-dense <steps>', 'log every round up to this step', integerAtLeast(0), DEFAULT_SETTINGS.log.dense)
    .option('--log-per-decade <n>', 'after --log-dense, log about n rounds per decade of steps (log-spaced)', integerAtLeast(0), DEFAULT_SETTINGS.log.perDecade)
    .option('--l2o <source>', L2O_HELP)
    .addOption(new Option('--fallback <name>', 'hand-designed optimizer the guards fall back to').choices(['sgd', 'momentum', 'adam'] as const).default('sgd'))
    .option('--lr <x>', 'learning rate of the hand-designed optimizer (sgd: η0; default per task)', positiveNumber)
    .option('--tau <x>', 'τ of the schedule η0 (1 + t/τ)^(−1/p) (default per task)', positiveNumber)
    .option('--power <x>', `p of the schedule (default ${DEFAULT_POWER})`, positiveNumber)
    .option('--k <n>', `lgl2o: steps per rollout (default ${LOSS_GUARD_DEFAULTS.k})`, integerAtLeast(1))
    .option('--m <n>', `lgl2o: comparison batches per round (default ${LOSS_GUARD_DEFAULTS.m})`, integerAtLeast(1))
    .option('--anchor', 'lgl2o: anchored guard (docs/algorithms.md §4b)')
    .addOption(new Option('--decision <rule>', 'lgl2o: strict (paper) or paired one-sided test').choices(['strict', 'paired'] as const))
    .option('--alpha <x>', `lgl2o: level of the paired one-sided t test (default ${LOSS_GUARD_DEFAULTS.alpha})`, numberIn(0, 0.999999, { exclusiveMin: true }))
    .option('--z <x>', 'lgl2o: a fixed threshold of the paired test in standard errors (overrides --alpha)', numberIn(0, 100))
    .addOption(
      new Option('--state-policy <p>', `lgl2o: the unchosen optimizer's state after a round (default ${LOSS_GUARD_DEFAULTS.statePolicy})`).choices([
        'keep',
        'reset',
      ] as const),
    )
    .option('--adaptive', 'lgl2o: grow k and m when the candidates overlap (paper §4.2)')
    .option('--adaptive-growth <x>', 'lgl2o: growth factor of adaptive k and m', numberIn(1, 100, { exclusiveMin: true }), LOSS_GUARD_DEFAULTS.adaptiveGrowth)
    .option('--adaptive-max-k <n>', 'lgl2o: largest adaptive k', integerAtLeast(1), LOSS_GUARD_DEFAULTS.adaptiveMaxK)
    .option('--adaptive-shrink', 'lgl2o: shrink k and m back when the candidates separate')
    .option('--backoff <R>', 'lgl2o: probe the learned optimizer every 2^min(r,R) rounds after r losses', integerAtLeast(0))
    .option('--delta <x>', `gl2o: acceptance margin δ (default ${SAFEGUARD_DEFAULTS.delta})`, numberIn(0, 0.999999))
    .option('--theta <x>', `gl2o: EMA weight θ (default ${SAFEGUARD_DEFAULTS.theta})`, numberIn(0, 1, { exclusiveMin: true }))
    .addOption(new Option('--sequence <s>', `gl2o: μ sequence (default ${SAFEGUARD_DEFAULTS.sequence})`).choices(MU_SEQUENCES));
}

/** The flags of `lgl2o run`, as commander parses them. */
export type RunFlags = ReturnType<ReturnType<typeof runOptions>['opts']>;
