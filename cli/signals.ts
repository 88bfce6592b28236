import { EXIT } from './errors.js';

/**
 * SIGINT and SIGTERM for the whole CLI: while a command trains (inside `withStopSignals`) the
 * first signal asks it to checkpoint and stop; at any other time (start-up, loading data) or at a
 * second signal the process exits at once with 130, the code of an interruption.
 */
let onStop: ((signal: NodeJS.Signals) => void) | undefined;
let installs = 0;

function onSignal(signal: NodeJS.Signals): void {
  const stop = onStop;
  onStop = undefined;
  if (stop !== undefined) return stop(signal);
  process.stderr.write(`lgl2o: interrupted by ${signal}\n`);
  process.exit(EXIT.interrupted);
}

/** Takes over SIGINT and SIGTERM until the returned function is called. */
export function handleSignals(): () => void {
  if (installs++ === 0) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--installs === 0) {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  };
}

/** Runs `fn` with an abort signal raised by the first SIGINT or SIGTERM; a second one exits at once (130). */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const release = handleSignals();
  const previous = onStop;
  onStop = (name) => controller.abort(name);
  try {
    return await fn(controller.signal);
  } finally {
    onStop = previous;
    release();
  }
}
