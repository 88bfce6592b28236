import { Command, Option } from '@commander-js/extra-typings';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeWith, parseJson } from '../../src/codec/decode.js';
import type { OptimizerConfig } from '../../src/config/run.js';
import { TRAIN_SUBSET } from '../../src/experiments/plan.js';
import type { Entry, Setting } from '../../src/experiments/settings.js';
import { GridFile, gridFromFile, gridPoints, parseGridSpecs, pointId, rankSweep, sweepTable, type Grid, type GridPoint } from '../../src/experiments/sweep.js';
import { TASK_IDS } from '../../src/tasks/index.js';
import { ExperimentError, runExperiment } from '../../jobs/experiment/runner.js';
import { collectResults } from '../../jobs/experiment/results.js';
import { planRuns } from '../../src/experiments/plan.js';
import { writeJsonAtomic } from '../../jobs/files.js';
import { CliError, EXIT } from '../errors.js';
import type { GlobalOptions } from '../globalOptions.js';
import { L2O_HELP, integerAtLeast } from '../options.js';
import { DEFAULT_QUEUE_NAME, QUEUE_HELP, withExecution } from './queueFlags.js';
import { checkOutPath } from '../outDir.js';
import { stopExitCode, withStopSignals } from '../signals.js';
import { runConfigFrom } from './runConfig.js';
import { runOptions, type RunFlags } from './runFlags.js';

interface SweepFlags {
  task: string;
  optimizer: RunFlags['optimizer'];
  fallback: RunFlags['fallback'];
  grid?: string[];
  gridFile?: string;
  seeds: number;
  steps: number;
  out?: string;
  l2o: string;
  data?: string;
  jobs: number;
  trainSubset: number;
  report: boolean;
  queue?: string;
  queueName: string;
}

/** The settings a grid may vary: flags of `lgl2o run`, by their names there. */
const KEYS: Record<string, 'number' | 'integer' | 'boolean' | readonly string[]> = {
  lr: 'number',
  tau: 'number',
  power: 'number',
  k: 'integer',
  m: 'integer',
  z: 'number',
  backoff: 'integer',
  delta: 'number',
  theta: 'number',
  anchor: 'boolean',
  adaptive: 'boolean',
  decision: ['strict', 'paired'],
  'state-policy': ['keep', 'reset'],
  sequence: ['GS', 'AA', 'EMA', 'RT', 'RM'],
  fallback: ['sgd', 'momentum', 'adam'],
};
const camel = (key: string) => key.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());

function checkGrid(grid: Grid): void {
  for (const [key, values] of grid) {
    const kind = KEYS[key];
    if (kind === undefined) throw new CliError(`--grid ${key}: not a setting a sweep can vary (known: ${Object.keys(KEYS).join(', ')})`);
    const expected = typeof kind === 'string' ? { boolean: 'true or false', integer: 'an integer', number: 'a number' }[kind] : `one of ${kind.join(', ')}`;
    for (const v of values) {
      const ok =
        typeof kind !== 'string'
          ? kind.includes(String(v))
          : kind === 'boolean'
            ? typeof v === 'boolean'
            : typeof v === 'number' && (kind === 'number' || Number.isInteger(v));
      if (!ok) throw new CliError(`--grid ${key}=${String(v)}: expected ${expected}`);
    }
  }
}

function readGrid(f: SweepFlags): Grid {
  if ((f.grid === undefined) === (f.gridFile === undefined))
    throw new CliError('sweep: give the grid with either --grid KEY=V1,V2 ... or --grid-file FILE.json');
  const grid = f.gridFile
    ? pipe(
        E.tryCatch(
          () => readFileSync(f.gridFile!, 'utf8'),
          (e) => new Error(`--grid-file ${f.gridFile}: cannot read (${e instanceof Error ? e.message : String(e)})`),
        ),
        E.chainW((text) => parseJson(text, f.gridFile!)),
        E.chainW((raw) => decodeWith(GridFile, raw, f.gridFile!)),
        E.chainW((raw) => gridFromFile(raw, f.gridFile!)),
      )
    : parseGridSpecs(f.grid!);
  if (E.isLeft(grid)) throw new CliError(grid.left.message);
  checkGrid(grid.right);
  return grid.right;
}

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/** The sweep as an experiment whose entries are the grid's points, each a full, checked optimizer config. */
function sweepSetting(f: SweepFlags, grid: Grid, steps: number): Setting {
  // The run command's own defaults, then the sweep's choices.
  const base: RunFlags = { ...runOptions().opts(), task: f.task, optimizer: f.optimizer, fallback: f.fallback, steps, l2o: f.l2o };
  const entries: Entry[] = gridPoints(grid).map((p: GridPoint, i) => {
    const flags = { ...base, ...Object.fromEntries(Object.entries(p).map(([k, v]) => [camel(k), v])) } as RunFlags;
    let optimizer: OptimizerConfig;
    try {
      optimizer = runConfigFrom(flags).optimizer;
    } catch (err) {
      throw new CliError(`--grid ${pointId(p)}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return { id: pointId(p), label: pointId(p), color: PALETTE[i % PALETTE.length]!, guard: optimizer.type === 'lgl2o', config: () => optimizer };
  });
  const axes = grid.map(([k, vs]) => `${k} ∈ {${vs.join(', ')}}`).join(', ');
  return {
    id: `sweep-${f.task}`,
    task: f.task,
    title: `Sweep of ${f.optimizer} on ${f.task}: ${axes}`,
    source: 'lgl2o sweep',
    entries,
    claims: [],
    defaultSteps: steps,
  };
}

/** DIR/sweep-plan.json: a rerun into the same directory must ask for the same sweep. */
function checkPlan(out: string, plan: object): void {
  const path = join(out, 'sweep-plan.json');
  if (existsSync(path)) {
    const old = readFileSync(path, 'utf8');
    if (old !== `${JSON.stringify(plan, null, 2)}\n`) throw new CliError(`--out ${out}: holds another sweep (${path} differs); choose another --out`);
  } else writeJsonAtomic(path, plan);
}

export function sweepCommand(global: () => GlobalOptions): Command {
  return new Command('sweep')
    .description('run every combination of a grid of optimizer settings × seeds (locally or on a queue), then rank the settings by final training loss')
    .addOption(new Option('--task <id>', 'the optimizee and its data').choices([...TASK_IDS]).default('mlp-spirals'))
    .addOption(
      new Option('--optimizer <name>', 'optimizer or guard whose settings vary')
        .choices(['sgd', 'momentum', 'adam', 'l2o', 'gl2o', 'lgl2o'] as const)
        .default('lgl2o'),
    )
    .addOption(new Option('--fallback <name>', 'hand-designed optimizer the guards fall back to').choices(['sgd', 'momentum', 'adam'] as const).default('sgd'))
    .option('--grid <specs...>', `KEY=V1,V2,... per setting, e.g. k=5,10,20 m=5,10 (keys: ${Object.keys(KEYS).join(', ')})`)
    .option('--grid-file <file>', 'the grid as JSON, e.g. {"k": [5, 10, 20], "m": [5, 10]}')
    .option('--seeds <n>', 'seeds 0..n-1 per setting', integerAtLeast(1), 5)
    .option('--steps <n>', 'optimizer steps per run', integerAtLeast(1), 1000)
    .option('--out <dir>', 'output directory (default results/sweeps/TASK)')
    .option('--l2o <source>', L2O_HELP, 'default')
    .option('--data <dir>', 'directory holding the dataset files, for tasks that need them')
    .option('--jobs <n>', 'local runs at once, each in its own process', integerAtLeast(1), 2)
    .option('--train-subset <n>', 'training examples on which the training loss is evaluated', integerAtLeast(1), TRAIN_SUBSET)
    .option('--report', 'only (re)write the ranking from the runs already done', false)
    .option('--queue <url>', QUEUE_HELP)
    .option('--queue-name <name>', 'the BullMQ queue', DEFAULT_QUEUE_NAME)
    .action(async (f: SweepFlags) => {
      const g = global();
      const grid = readGrid(f);
      const setting = sweepSetting(f, grid, f.steps);
      const out = f.out ?? join('results', 'sweeps', f.task);
      checkOutPath('--out', out);
      const params = { steps: f.steps, seeds: f.seeds, l2o: f.l2o, trainSubset: f.trainSubset, ...(f.data ? { dataDir: f.data } : {}) };
      const plan = { task: f.task, optimizer: f.optimizer, fallback: f.fallback, grid: Object.fromEntries(grid.map(([k, vs]) => [k, vs])) };
      const gridText = grid.map(([k, vs]) => `${k}=${vs.join(',')}`).join(' ');
      const commandLine =
        `lgl2o sweep --task ${f.task} --optimizer ${f.optimizer} --fallback ${f.fallback} --grid ${gridText}` +
        ` --seeds ${f.seeds} --steps ${f.steps} --out ${out}${f.l2o !== 'default' ? ` --l2o ${f.l2o}` : ''}`;
      let stopReason: unknown;
      const log = (line: string) => (g.quiet ? undefined : process.stderr.write(`lgl2o: ${line}\n`));
      try {
        if (existsSync(out)) checkPlan(out, plan);
        const outcome = await withStopSignals((signal) => {
          signal.addEventListener('abort', () => (stopReason = signal.reason));
          return withExecution(f.report ? { queueName: f.queueName, jobs: f.jobs } : f, f.l2o, log, (x) =>
            runExperiment({ setting, params, outDir: out, ...x, progress: g.progress, commandLine, signal, reportOnly: f.report }),
          );
        });
        checkPlan(out, plan);
        const rows = rankSweep(collectResults(out, setting, f.steps, planRuns(setting, params)));
        const table = sweepTable(rows, f.steps);
        writeJsonAtomic(join(out, 'sweep.json'), {
          ...plan,
          steps: f.steps,
          seeds: f.seeds,
          command: commandLine,
          ranking: rows.map((r) => ({ ...r, mean: num(r.mean), sd: num(r.sd), best: num(r.best), worst: num(r.worst) })),
        });
        writeFileSync(
          join(out, 'sweep.md'),
          `# ${setting.title}\n\n${f.seeds} seeds, ${f.steps} steps; \`${commandLine}\`\n\n${table}\n\nCurves: claims.md and the figures.\n`,
        );
        if (g.json) process.stdout.write(`${JSON.stringify({ ranking: rows, files: [...outcome.files, join(out, 'sweep.md'), join(out, 'sweep.json')] })}\n`);
        else process.stdout.write(`\n${setting.title}\n\n${table}\n\nranking: ${join(out, 'sweep.md')}\n`);
      } catch (err) {
        if (err instanceof ExperimentError)
          throw new CliError(err.message, err.exitCode === 130 ? stopExitCode(stopReason) : err.exitCode === 2 ? EXIT.badInput : EXIT.failed);
        throw err;
      }
    });
}

const num = (x: number): number | null => (Number.isFinite(x) ? x : null);
