import { createHash } from 'node:crypto';
import * as t from 'io-ts';
import { strictShape } from '../codec/decode.js';
import { RunConfig } from '../config/run.js';
import { JobSettings } from './settings.js';

/** Name of the BullMQ jobs that carry one run of an experiment or sweep. */
export const RUN_JOB = 'run';

/**
 * What the coordinator puts on the queue for one run. The worker decodes it before doing
 * anything: a malformed job fails alone, with this codec's message.
 */
export const RunJobPayload = strictShape(
  { version: t.literal(1), runId: t.string, config: RunConfig, settings: JobSettings, l2o: t.string },
  { l2oSha256: t.string },
  'RunJobPayload',
);
export type RunJobPayload = t.TypeOf<typeof RunJobPayload>;

/** What a worker returns for a run, in the CLI's exit codes (0 finished, 2 bad input, 3 diverged, else failed). */
export const RunJobResult = strictShape(
  { code: t.number, message: t.string, wallMs: t.number, worker: t.string },
  { cpuMs: t.number, backend: t.string },
  'RunJobResult',
);
export type RunJobResult = t.TypeOf<typeof RunJobResult>;

/** A running job's progress, as the worker publishes it. */
export const RunJobProgress = t.intersection([t.type({ step: t.number, elapsedMs: t.number }), t.partial({ loss: t.number })]);
export type RunJobProgress = t.TypeOf<typeof RunJobProgress>;

/**
 * The job id of a run: readable, and a hash of everything that decides its numbers, so the
 * same run asked again (a restarted coordinator) finds its job, and another run never does.
 * BullMQ ids must not contain ':'.
 */
export function runJobId(p: RunJobPayload): string {
  const hash = createHash('sha256')
    .update(JSON.stringify({ config: p.config, log: p.settings.log, l2o: p.l2o, l2oSha256: p.l2oSha256 ?? null }))
    .digest('hex')
    .slice(0, 20);
  return `${p.runId.replace(/[^A-Za-z0-9_.=,-]+/g, '.')}.${hash}`;
}
