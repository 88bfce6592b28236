import { EXIT } from './errors.js';

/** The signals that stop a run cleanly (checkpoint, flushed log): Ctrl-C, kill, a closed terminal. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The exit code of a run stopped by `reason` (an abort signal's reason): 129 after SIGHUP, else 130. */
export function stopExitCode(reason: unknown): number {
  return reason === 'SIGHUP' ? EXIT.hangup : EXIT.interrupted;
}

/**
 * SIGINT, SIGTERM and SIGHUP for the whole CLI: while a command trains (inside `withStopSignals`)
 * the first signal asks it to checkpoint and stop; at any other time (start-up, loading data) or at
 * a second signal the process exits at once with 129 (SIGHUP) or 130.
 */
let onStop: ((signal: NodeJS.Signals) => void) | undefined;
let installs = 0;

function onSignal(signal: NodeJS.Signals): void {
  const stop = onStop;
  onStop = undefined;
  if (stop !== undefined) return stop(signal);
  process.stderr.write(`lgl2o: interrupted by ${signal}\n`);
  process.exit(stopExitCode(signal));
}

/** Takes over the stop signals until the returned function is called. */
export function handleSignals(): () => void {
  if (installs++ === 0) for (const s of STOP_SIGNALS) process.on(s, onSignal);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    if (--installs === 0) for (const s of STOP_SIGNALS) process.off(s, onSignal);
  };
}

/**
 * With LGL2O_PARENT_PID set (by a queue worker), a run whose parent dies (SIGKILL, OOM) stops
 * as on SIGTERM: it checkpoints and exits instead of running on as an orphan nobody reads.
 */
function watchParent(): () => void {
  const parent = Number(process.env['LGL2O_PARENT_PID']);
  if (!Number.isInteger(parent) || parent <= 0) return () => undefined;
  const timer = setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, 'SIGTERM');
  }, 250);
  timer.unref();
  return () => clearInterval(timer);
}

/** Runs `fn` with an abort signal raised by the first stop signal (its reason: the signal's name); a second one exits at once. */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const release = handleSignals();
  const unwatch = watchParent();
  const previous = onStop;
  onStop = (name) => controller.abort(name);
  try {
    return await fn(controller.signal);
  } finally {
    unwatch();
    onStop = previous;
    release();
  }
}
