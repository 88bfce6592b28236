import fc from 'fast-check';

function seedFromEnv(): number {
  const fromEnv = process.env['FC_SEED'];
  const seed = fromEnv !== undefined ? Number.parseInt(fromEnv, 10) : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;
  if (!Number.isInteger(seed)) throw new Error(`FC_SEED must be an integer, got ${fromEnv}`);
  return seed;
}

/**
 * fast-check parameters with a logged seed. A failure prints fast-check's own report (seed
 * and shrink path); `FC_SEED=<seed> [FC_PATH=<path>] npx vitest run <file> -t '<name>'`
 * replays it. Without FC_SEED every run draws a fresh seed, so runs keep exploring new cases.
 * FC_NUM_RUNS overrides the number of cases (for calibration runs).
 */
export function fcParams<T>(name: string, defaultRuns: number): fc.Parameters<T> {
  const runs = process.env['FC_NUM_RUNS'];
  const numRuns = runs !== undefined ? Number.parseInt(runs, 10) : defaultRuns;
  const seed = seedFromEnv();
  const path = process.env['FC_PATH'];
  console.info(`[property] ${name}: ${numRuns} cases, seed ${seed}${path ? `, path ${path}` : ''} (replay: FC_SEED=${seed})`);
  return { numRuns, seed, ...(path ? { path } : {}) };
}

/**
 * Parameters for running a property against a deliberately broken guard: stop at the first
 * counterexample (shrinking would only cost time here).
 */
export function fcMutantParams<T>(name: string, numRuns: number): fc.Parameters<T> {
  const seed = seedFromEnv();
  console.info(`[property] ${name} vs a BROKEN guard: up to ${numRuns} cases, seed ${seed} (replay: FC_SEED=${seed})`);
  return { numRuns, seed, endOnFailure: true };
}

/** Runs a property against a broken guard and logs after how many cases it found a counterexample. */
export function checkBroken<T>(name: string, property: fc.IProperty<T>, numRuns: number): fc.RunDetails<T> {
  const details = fc.check(property, fcMutantParams<T>(name, numRuns));
  const message = details.errorInstance instanceof Error ? details.errorInstance.message.split('\n')[0] : String(details.errorInstance);
  console.info(
    details.failed
      ? `[property] ${name}: broken guard caught after ${details.numRuns} case(s): ${message}`
      : `[property] ${name}: broken guard NOT caught in ${numRuns} cases`,
  );
  return details;
}
