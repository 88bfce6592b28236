import * as tf from '@tensorflow/tfjs';
import { Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import * as E from 'fp-ts/lib/Either.js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadLstmCheckpoint } from '../../src/l2o/weightsFile.js';
import { loadResumePoint, type Provenance, type ResumePoint } from '../../src/meta/snapshot.js';
import { packWeights, type BackwardKind, type MetaLossKind } from '../../src/meta/window.js';
import { MetaTrainer, rolloutAt, type CurriculumStage, type MetaTrainSettings } from '../../src/meta/trainer.js';
import { DEFAULT_ARCHITECTURE, disposeWeights, flattenWeights } from '../../src/l2o/weights.js';
import { packageVersion } from '../../src/paths.js';
import { loadTask, TASK_IDS } from '../../src/tasks/index.js';
import { META_FILES, runMetaTraining, truncateLog } from '../../jobs/metaTraining.js';
import { startBackend } from '../backend.js';
import { checkOutPath, createOutDir, lockOutDir } from '../outDir.js';
import { WriteError } from '../../jobs/files.js';
import { DEFAULT_BATCH_SIZE } from '../../src/data/sampler.js';
import { CliError } from '../errors.js';
import { stopExitCode, withStopSignals } from '../signals.js';
import type { GlobalOptions } from '../globalOptions.js';
import { integerAtLeast, numberIn, positiveNumber } from '../options.js';

interface Flags {
  task: string;
  metaSteps: number;
  rollout: number;
  truncation: number;
  metaLr: number;
  clip: number;
  metaLoss: MetaLossKind;
  logLoss: boolean;
  backward: BackwardKind;
  curriculum: CurriculumStage[];
  seed: number;
  batchSize: number;
  evalEvery: number;
  evalEpisodes: number;
  evalSteps?: number;
  init?: string;
  data?: string;
  out?: string;
  resume?: string;
  force: boolean;
}

/** "FROM:ROLLOUT,FROM:ROLLOUT" → stages in order of `from`. */
function parseCurriculum(value: string): CurriculumStage[] {
  const stages = value.split(',').map((part) => {
    const m = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(part);
    if (m === null) throw new InvalidArgumentError(`expected FROM:ROLLOUT pairs separated by commas (e.g. 2000:200,5000:500), got "${part}"`);
    return { from: Number(m[1]), rollout: Number(m[2]) };
  });
  return stages.sort((a, b) => a.from - b.from);
}

function checkSettings(s: MetaTrainSettings): void {
  for (const r of [s.rollout, ...s.curriculum.map((c) => c.rollout)]) {
    if (r < s.truncation || r % s.truncation !== 0) throw new CliError(`rollout ${r}: must be a multiple of --truncation ${s.truncation}`);
  }
}

/** Flags that may go with --resume: --meta-steps extends (or shortens) the run. */
const RESUME_FLAGS = new Set(['resume', 'metaSteps', 'data']);

/** The command that starts a run with these settings, every setting spelled out. */
export function commandFor(s: MetaTrainSettings, out: string): string {
  const flags = [
    ['--task', s.task],
    ['--meta-steps', s.metaSteps],
    ['--rollout', s.rollout],
    ['--truncation', s.truncation],
    ['--meta-lr', s.metaLr],
    ['--clip', s.clip],
    ['--meta-loss', s.lossKind],
    ...(s.logLoss === true ? [['--log-loss']] : []),
    ['--backward', s.backward],
    ...(s.curriculum.length > 0 ? [['--curriculum', s.curriculum.map((c) => `${c.from}:${c.rollout}`).join(',')]] : []),
    ['--seed', s.seed],
    ['--batch-size', s.batchSize],
    ['--eval-every', s.evalEvery],
    ['--eval-episodes', s.evalEpisodes],
    ['--eval-steps', s.evalSteps],
    ...(s.init !== null ? [['--init', s.init]] : []),
    ['--out', out],
  ];
  return ['lgl2o meta-train', ...flags.map(([f, v]) => (v === undefined ? `${f}` : `${f} ${v}`))].join(' ');
}

function provenance(backend: string, command: string, history?: ResumePoint['history']): Provenance {
  return {
    command: history?.command ?? command,
    resumedWith: history ? [...history.resumedWith, command] : [],
    backend,
    versions: { lgl2o: packageVersion(), tfjs: tf.version.tfjs, node: process.version },
  };
}

function loadData(settings: MetaTrainSettings, dataDir: string | undefined) {
  const loaded = loadTask(settings.task, { seed: settings.seed, ...(dataDir ? { dataDir } : {}) });
  if (E.isLeft(loaded)) throw new CliError(loaded.left.message);
  const { splits, objective } = loaded.right;
  return { objective, train: splits.train, evaluation: splits.validation ?? splits.test };
}

async function run(
  settings: MetaTrainSettings,
  dir: string,
  g: GlobalOptions,
  backend: string,
  dataDir: string | undefined,
  command: string,
  resume: boolean,
): Promise<void> {
  const { objective, train, evaluation } = loadData(settings, dataDir);
  let trainer: MetaTrainer;
  let history: ResumePoint['history'] | undefined;
  if (resume) {
    const point = loadResumePoint(join(dir, META_FILES.last));
    if (E.isLeft(point)) throw point.left;
    trainer = new MetaTrainer(objective, { train, evaluation }, settings, { opt: point.right.opt, position: point.right.position });
    history = point.right.history;
    truncateLog(join(dir, META_FILES.log), point.right.position.metaStep);
    if (!g.quiet) process.stderr.write(`lgl2o: resuming ${dir} at meta-step ${point.right.position.metaStep} of ${settings.metaSteps}\n`);
  } else {
    let start: tf.Tensor1D;
    if (settings.init !== null) {
      const ck = loadLstmCheckpoint(settings.init);
      if (E.isLeft(ck)) throw ck.left;
      start = packWeights(flattenWeights(ck.right.weights));
      disposeWeights(ck.right.weights);
    } else start = MetaTrainer.randomInitialWeights(settings);
    trainer = new MetaTrainer(objective, { train, evaluation }, settings, { opt: MetaTrainer.freshOpt(start) });
    start.dispose();
  }
  if (!g.quiet) {
    const windows = rolloutAt(settings, trainer.metaStep) / settings.truncation;
    process.stderr.write(
      `lgl2o: meta-training on ${settings.task} (${objective.size} coordinates), ${windows} windows of ${settings.truncation} steps per episode\n`,
    );
  }
  try {
    let aborted: unknown;
    const last = await withStopSignals(async (signal) => {
      const result = await runMetaTraining(trainer, { dir, provenance: provenance(backend, command, history), progress: g.progress, append: resume, signal });
      if (signal.aborted) aborted = signal.reason ?? 'SIGINT';
      return result;
    });
    if (aborted !== undefined) throw new CliError(`interrupted; continue with: lgl2o meta-train --resume ${dir}`, stopExitCode(aborted));
    const best = trainer.best;
    const summary = { out: dir, metaStep: trainer.metaStep, wallSeconds: last ? last.wallMs / 1000 : 0, best };
    process.stdout.write(
      g.json
        ? `${JSON.stringify(summary)}\n`
        : `done: ${trainer.metaStep} meta-steps; best evaluation ${best ? `${best.evalLoss.toPrecision(4)} at meta-step ${best.metaStep}` : 'none'}; ${join(dir, META_FILES.best)}\n`,
    );
  } catch (err) {
    if (err instanceof WriteError) {
      throw new CliError(`${err.message}; the last checkpoint is kept: free space, then continue with: lgl2o meta-train --resume ${dir}`);
    }
    throw err;
  } finally {
    trainer.dispose();
  }
}

const defaultGlobal = (): GlobalOptions => ({ quiet: false, json: false, progress: process.stderr.isTTY === true });

export function metaTrainCommand(global: () => GlobalOptions = defaultGlobal) {
  const cmd = new Command('meta-train')
    .description('meta-train the learned optimizer (truncated BPTT, first-order, Adam); writes DIR/meta.ndjson, DIR/best.json, DIR/last.json')
    .addOption(new Option('--task <id>', 'the optimizee and its data').choices(TASK_IDS).default('mlp-mnist'))
    .option('--meta-steps <n>', 'meta-steps (one per truncation window)', integerAtLeast(1), 1000)
    .option('--rollout <n>', 'optimizer steps per episode', integerAtLeast(1), 100)
    .option('--truncation <n>', 'steps per truncated-BPTT window', integerAtLeast(1), 20)
    .option('--meta-lr <x>', "the meta-optimizer's (Adam) learning rate", positiveNumber, 0.001)
    .option('--clip <x>', "clip the meta-gradient's global norm (0: no clipping)", numberIn(0, Number.MAX_VALUE), 0)
    .addOption(
      new Option('--meta-loss <kind>', 'window: the window losses (spec); final: also the loss after the last update')
        .choices(['window', 'final'])
        .default('window'),
    )
    .option('--log-loss', 'sum the logs of the losses in the meta-loss (not in the spec)', false)
    .addOption(new Option('--backward <kind>', 'hand-written (fused) or tf.grads (autodiff) backward pass').choices(['fused', 'autodiff']).default('fused'))
    .option('--curriculum <stages>', 'rollout-length curriculum FROM:ROLLOUT,... (from meta-step FROM on)', parseCurriculum, [])
    .option('--seed <n>', 'seed of the initial weights, optimizee initialisations and batch order', integerAtLeast(0), 0)
    .option('--batch-size <n>', 'examples per mini-batch', integerAtLeast(1), DEFAULT_BATCH_SIZE)
    .option('--eval-every <n>', 'evaluate (held-out episodes on the evaluation split) every n meta-steps', integerAtLeast(1), 100)
    .option('--eval-episodes <n>', 'episodes per evaluation', integerAtLeast(1), 2)
    .option('--eval-steps <n>', 'optimizer steps per evaluation episode (default: the rollout)', integerAtLeast(1))
    .option('--init <checkpoint>', 'start from these weights instead of a random initialisation')
    .option('--data <dir>', 'directory holding the dataset files')
    .option('--out <dir>', 'output directory')
    .option('--resume <dir>', 'continue the run in DIR from DIR/last.json')
    .option('--force', 'overwrite an output directory that holds another meta-training run', false);
  return cmd.action(async (flags: Flags) => {
    const g = global();
    const backend = await startBackend(g);
    if (flags.resume !== undefined) {
      const given = cmd.options.filter((o) => !RESUME_FLAGS.has(o.attributeName()) && cmd.getOptionValueSource(o.attributeName()) === 'cli');
      if (given.length > 0)
        throw new CliError(`--resume ${flags.resume}: continues with the run's saved settings; drop ${given.map((o) => o.long ?? o.flags).join(', ')}`);
      checkOutPath('--resume', flags.resume);
      if (!existsSync(flags.resume)) throw new CliError(`--resume ${flags.resume}: no such directory`);
      const lock = lockOutDir(flags.resume, `--resume ${flags.resume}`, g.quiet, `lgl2o meta-train --resume ${flags.resume}`);
      try {
        await resumeMetaTraining(flags, flags.resume, cmd, g, backend);
      } finally {
        lock.release();
      }
      return;
    }
    if (flags.out === undefined) throw new CliError('--out <dir> is required (or --resume <dir>)');
    const out = flags.out;
    checkOutPath('--out', out);
    const settings = settingsFrom(flags);
    checkSettings(settings);
    createOutDir(out);
    const lock = lockOutDir(out, `--out ${out}`, g.quiet, `lgl2o meta-train --out ${out}`);
    try {
      // Checked under the lock: no other process can start a run there meanwhile.
      if (existsSync(join(out, META_FILES.log)) && !flags.force) {
        throw new CliError(`--out ${out}: holds another meta-training run (${readdirSync(out).join(', ')}); pass --force to overwrite or --resume to continue`);
      }
      await run(settings, out, g, backend, flags.data, commandFor(settings, out), false);
    } finally {
      lock.release();
    }
  });
}

async function resumeMetaTraining(flags: Flags, dir: string, cmd: Command, g: GlobalOptions, backend: string): Promise<void> {
  const point = loadResumePoint(join(dir, META_FILES.last));
  if (E.isLeft(point)) throw point.left;
  tf.dispose([point.right.opt.weights, point.right.opt.adam.m, point.right.opt.adam.v]);
  const saved = point.right.settings;
  const settings = cmd.getOptionValueSource('metaSteps') === 'cli' ? { ...saved, metaSteps: flags.metaSteps } : saved;
  const command = `lgl2o meta-train --resume ${dir}${settings === saved ? '' : ` --meta-steps ${settings.metaSteps}`}`;
  return run(settings, dir, g, backend, flags.data, command, true);
}

function settingsFrom(flags: Flags): MetaTrainSettings {
  return {
    task: flags.task,
    metaSteps: flags.metaSteps,
    rollout: flags.rollout,
    truncation: flags.truncation,
    metaLr: flags.metaLr,
    clip: flags.clip,
    lossKind: flags.metaLoss,
    ...(flags.logLoss ? { logLoss: true } : {}),
    backward: flags.backward,
    seed: flags.seed,
    batchSize: flags.batchSize,
    evalEvery: flags.evalEvery,
    evalEpisodes: flags.evalEpisodes,
    evalSteps: flags.evalSteps ?? flags.rollout,
    curriculum: flags.curriculum,
    architecture: DEFAULT_ARCHITECTURE,
    init: flags.init ?? null,
  };
}
