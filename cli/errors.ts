/** Exit codes of the command-line tool (documented in the README); 129 and 130 follow the shell's 128 + signal number. */
export const EXIT = { ok: 0, failed: 1, badInput: 2, diverged: 3, inputEnded: 4, hangup: 129, interrupted: 130 } as const;

/** An error whose message is meant for the user, with the exit code it maps to. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.badInput,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
