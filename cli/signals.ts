import { EXIT } from './errors.js';

/** The signals that stop a run cleanly (checkpoint, flushed log): Ctrl-C, kill, a closed terminal. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** The exit code of a run stopped by `reason` (an abort signal's reason): 129 after SIGHUP, else 130. */
export function stopExitCode(reason: unknown): number {
  return reason === 'SIGHUP' ? EXIT.hangup : EXIT.interrupted;
}

/**
 * Runs `fn` with an abort signal raised by the first SIGINT, SIGTERM or SIGHUP (its reason: the
 * signal's name); a second one kills as usual.
 */
export async function withStopSignals<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (name: NodeJS.Signals) => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
    controller.abort(name);
  };
  for (const s of STOP_SIGNALS) process.once(s, onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    for (const s of STOP_SIGNALS) process.off(s, onSignal);
  }
}
