import { selectBackend } from '../src/tensor/backend.js';
import { CliError } from './errors.js';
import type { GlobalOptions } from './globalOptions.js';

/** Starts the backend once and says which one (on stderr, so --json stdout stays clean). */
export async function startBackend(g: GlobalOptions): Promise<string> {
  try {
    const name = await selectBackend();
    if (!g.quiet) process.stderr.write(`lgl2o: backend ${name}\n`);
    return name;
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err));
  }
}
