import { Command, CommanderError } from 'commander';
import { DecodeError } from '../src/config/decode.js';
import { packageVersion } from '../src/paths.js';
import { DivergenceError } from '../streams/train.js';
import { runCommand } from './commands/run.js';
import { CliError, EXIT } from './errors.js';

export interface GlobalOptions {
  readonly quiet: boolean;
  readonly json: boolean;
  /** Progress bars: on a terminal unless --quiet or --json. */
  readonly progress: boolean;
}

const EXIT_HELP = `
Exit codes: 0 ok, 2 bad input, 3 diverged, 130 interrupted.
Environment: LGL2O_BACKEND=tensorflow|wasm|cpu overrides the backend.`;

export function buildProgram(): Command {
  const program = new Command('lgl2o')
    .description('Guarded learned optimizers (LGL2O) for TensorFlow.js')
    .version(packageVersion())
    .option('-q, --quiet', 'no progress bars or notes on stderr', false)
    .option('--json', 'machine-readable output on stdout', false)
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError('(add --help for the options)')
    .exitOverride();
  const global = (): GlobalOptions => {
    const o = program.opts<{ quiet: boolean; json: boolean }>();
    return { quiet: o.quiet, json: o.json, progress: !o.quiet && !o.json && process.stderr.isTTY === true };
  };
  program.addCommand(runCommand(global).exitOverride());
  return program;
}

function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.badInput;
  if (err instanceof CliError) return err.exitCode;
  if (err instanceof DecodeError) return EXIT.badInput;
  if (err instanceof DivergenceError) return EXIT.diverged;
  return EXIT.failed;
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    const code = exitCodeOf(err);
    // Commander has already printed its own parse errors and help.
    if (!(err instanceof CommanderError)) process.stderr.write(`lgl2o: ${err instanceof Error ? err.message : String(err)}\n`);
    if (code === EXIT.failed && err instanceof Error && process.env['LGL2O_DEBUG']) process.stderr.write(`${err.stack}\n`);
    return code;
  }
}
