import { Command, CommanderError, Help, type CommandUnknownOpts, type Option } from '@commander-js/extra-typings';
import { DecodeError } from '../src/codec/decode.js';
import { packageVersion } from '../src/paths.js';
import { LockError } from '../jobs/dirLock.js';
import { LiveIdleError, LiveInputError, LiveRecordError } from '../streams/live.js';
import { InputEndedError } from '../jobs/runJob.js';
import { UnsafePathError, WriteError } from '../jobs/files.js';
import { DivergenceError } from '../streams/train.js';
import { experimentCommand } from './commands/experiment.js';
import { metaTrainCommand } from './commands/metaTrain.js';
import { runCommand } from './commands/run.js';
import { verifyCommand } from './commands/verify.js';
import { sweepCommand } from './commands/sweep.js';
import { tuneCommand } from './commands/tune.js';
import { workerCommand } from './commands/worker.js';
import { CliError, EXIT } from './errors.js';
import { handleSignals } from './signals.js';

export interface GlobalOptions {
  readonly quiet: boolean;
  readonly json: boolean;
  /** Progress bars: only when stdout and stderr are terminals, and not with --quiet or --json. */
  readonly progress: boolean;
}

const EXIT_HELP = `
Exit codes: 0 ok, 1 failed (verify: a counterexample), 2 bad input or a refused directory (locked, a link, disk full),
3 diverged, 4 the live input ended before --steps (checkpointed; resume with more input), 129 hung up (SIGHUP),
130 interrupted (SIGINT, SIGTERM); a stopped run checkpoints first. With --json, an error is also
a JSON object on stdout: {"error": "...", "exitCode": n}.
Environment: LGL2O_BACKEND=tensorflow|wasm|cpu overrides the backend; LGL2O_DEBUG=1 prints stack traces.`;

/** Every option's help names its default: commander's own, or none / off where there is none. */
function optionDescription(this: Help, option: Option): string {
  const text = Help.prototype.optionDescription.call(this, option);
  if (option.defaultValue !== undefined || /default/i.test(option.description) || option.long === '--help' || option.long === '--version') return text;
  return `${text} (default: ${option.required || option.optional ? 'none' : 'off'})`;
}

/**
 * A flag given twice with values (`--steps 5 --steps 7`) is refused: which one was meant cannot be
 * told. A variadic flag (`--grid k=5 m=5,10`) takes several values by design: commander reports each
 * value as the flag again, so it is left out.
 */
function refuseRepeatedFlags(command: CommandUnknownOpts): void {
  const seen = new Map<string, string[]>();
  for (const option of command.options) {
    if ((!option.required && !option.optional) || option.variadic) continue;
    command.on(`option:${option.name()}`, (value: unknown) => {
      const values = seen.get(option.name()) ?? [];
      values.push(String(value));
      seen.set(option.name(), values);
    });
  }
  command.hook('preAction', (self) => {
    if (self !== command) return;
    for (const [name, values] of seen) if (values.length > 1) throw new CliError(`--${name} given ${values.length} times (${values.join(', ')}); give it once`);
  });
}

/** The same help layout, one-line errors and exit handling for the program and each command. */
function configure<C extends CommandUnknownOpts>(command: C): C {
  refuseRepeatedFlags(command);
  return command
    .configureHelp({ optionDescription, showGlobalOptions: true })
    .addHelpText('after', EXIT_HELP)
    .configureOutput({
      outputError: (text, write) =>
        write(
          `lgl2o: ${text
            .replace(/^error: /, '')
            .trim()
            .replace(/\s*\n\s*/g, ' ')} (see --help)\n`,
        ),
    })
    .exitOverride();
}

export function buildProgram() {
  const program = configure(
    new Command('lgl2o')
      .description('Guarded learned optimizers (LGL2O) for TensorFlow.js')
      .version(packageVersion())
      .option('-q, --quiet', 'no progress bars or notes on stderr', false)
      .option('--json', 'machine-readable output on stdout', false),
  );
  const global = (): GlobalOptions => {
    const o = program.opts();
    const terminal = process.stdout.isTTY === true && process.stderr.isTTY === true;
    return { quiet: o.quiet, json: o.json, progress: !o.quiet && !o.json && terminal };
  };
  program.addCommand(configure(runCommand(global)));
  program.addCommand(configure(experimentCommand(global)));
  program.addCommand(configure(verifyCommand(global)));
  program.addCommand(configure(metaTrainCommand(global)));
  program.addCommand(configure(sweepCommand(global)));
  program.addCommand(configure(tuneCommand(global)));
  program.addCommand(configure(workerCommand(global)));
  return program;
}

function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof DecodeError || err instanceof LiveRecordError || err instanceof LiveInputError || err instanceof LiveIdleError) return EXIT.badInput;
  if (err instanceof UnsafePathError || err instanceof WriteError || err instanceof LockError) return EXIT.badInput;
  if (err instanceof DivergenceError) return EXIT.diverged;
  if (err instanceof InputEndedError) return EXIT.inputEnded;
  return EXIT.failed;
}

let stdoutGuarded = false;

/**
 * `lgl2o ... | head` closes stdout early: end quietly instead of crashing on EPIPE. A closed
 * terminal (SIGHUP) fails writes to stderr: the run still checkpoints and exits with its code.
 */
function endQuietlyOnClosedStdout(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
    process.exit(EXIT.ok);
  });
  process.stderr.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'EIO') throw err;
  });
}

/** --json asked for, also when parsing stopped before commander stored it. */
function wantsJson(program: ReturnType<typeof buildProgram>, argv: readonly string[]): boolean {
  if (program.opts().json === true) return true;
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

export async function main(argv: readonly string[]): Promise<number> {
  endQuietlyOnClosedStdout();
  // From the first moment: SIGINT/SIGTERM during start-up exit 130 like any interruption.
  const releaseSignals = handleSignals();
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    const code = exitCodeOf(err);
    const message = err instanceof Error ? err.message : String(err);
    // Commander has already printed its own parse errors and help.
    if (!(err instanceof CommanderError)) process.stderr.write(`lgl2o: ${message}\n`);
    if (code !== EXIT.ok && wantsJson(program, argv)) {
      process.stdout.write(
        `${JSON.stringify({
          error: message
            .replace(/^error: /, '')
            .replace(/\s*\n\s*/g, ' ')
            .trim(),
          exitCode: code,
        })}\n`,
      );
    }
    if (code === EXIT.failed && err instanceof Error && process.env['LGL2O_DEBUG']) process.stderr.write(`${err.stack}\n`);
    return code;
  } finally {
    releaseSignals();
  }
}
