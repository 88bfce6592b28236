import * as E from 'fp-ts/lib/Either.js';
import { Worker, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RUN_FILES } from '../../src/runs/runDir.js';
import { decodeWith } from '../../src/codec/decode.js';
import { RUN_JOB, RunJobPayload, type RunJobResult } from '../../src/runs/queueJob.js';
import { checkpointSha256, tailProgress } from '../experiment/runner.js';
import { startRunProcess, type Execution } from '../experiment/pool.js';
import { writeJsonAtomic } from '../files.js';
import { redisConnection, snapshotPrefix, type QueueTarget } from './connection.js';
import { readRunFiles, SnapshotStore, writeRunFiles } from './snapshot.js';

export interface WorkerOptions {
  readonly target: QueueTarget;
  readonly concurrency: number;
  /** Local scratch space; each job runs in WORK/worker-PID/JOB and is removed when it ends. */
  readonly workDir: string;
  /** How to start the CLI for a run (as `processExecutor`). */
  readonly cli: readonly string[];
  /** BullMQ lock duration: a dead worker's jobs go back to the queue after about this long. */
  readonly lockMs: number;
  /** How often a running job's checkpoint and progress are looked at. */
  readonly syncMs: number;
  readonly log: (line: string) => void;
  readonly signal: AbortSignal;
}

export interface WorkerTally {
  readonly completed: number;
  readonly failed: number;
}

const me = () => `${hostname()}:${process.pid}`;

/** Scratch directories of dead workers of this machine: nothing resumes from them (Redis holds the state). */
function removeStaleScratch(workDir: string): void {
  if (!existsSync(workDir)) return;
  for (const name of readdirSync(workDir)) {
    const pid = /^worker-(\d+)$/.exec(name)?.[1];
    if (pid === undefined || Number(pid) === process.pid) continue;
    let alive = true;
    try {
      process.kill(Number(pid), 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive) rmSync(join(workDir, name), { recursive: true, force: true });
  }
}

/**
 * Takes run jobs from the queue and runs each with the CLI's resumable `run` in its own
 * process, `concurrency` at a time, until the signal aborts. The run's directory is pushed to
 * Redis at every new checkpoint and at the end; a job taken over from a dead worker continues
 * from the last pushed checkpoint.
 */
export async function runWorker(o: WorkerOptions): Promise<WorkerTally> {
  removeStaleScratch(o.workDir);
  const scratch = join(o.workDir, `worker-${process.pid}`);
  mkdirSync(scratch, { recursive: true });
  const connection = redisConnection(o.target, 'worker', o.log);
  const store = new SnapshotStore(connection, snapshotPrefix(o.target));
  const running = new Set<Execution>();
  let completed = 0;
  let failed = 0;

  const processJob = async (job: Job, token?: string): Promise<RunJobResult> => {
    const payload = decodeWith(RunJobPayload, job.data, `job ${job.id}`);
    if (E.isLeft(payload)) throw new UnrecoverableError(`malformed job payload: ${payload.left.message}`);
    const p = payload.right;
    const started = performance.now();
    const result = (code: number, message: string, extra: Partial<RunJobResult> = {}): RunJobResult => ({
      code,
      message,
      wallMs: performance.now() - started,
      worker: me(),
      ...extra,
    });
    if (p.l2oSha256 !== undefined) {
      const sha = checkpointSha256(p.l2o);
      if (sha !== p.l2oSha256) {
        return result(
          2,
          `worker ${me()}: --l2o ${p.l2o}: ` +
            (sha === undefined ? 'not found here' : `differs from the coordinator's (SHA-256 ${sha.slice(0, 12)}…, expected ${p.l2oSha256.slice(0, 12)}…)`),
        );
      }
    }
    const id = job.id!;
    const lock = token ? { key: `${job.queueQualifiedName}:${id}:lock`, token } : undefined;
    const dir = join(scratch, id);
    rmSync(dir, { recursive: true, force: true });
    const saved = await store.load(id);
    if (saved) writeRunFiles(dir, saved);
    else {
      mkdirSync(dir, { recursive: true });
      writeJsonAtomic(join(dir, 'config.json'), p.config);
    }
    const mode = saved?.has(RUN_FILES.meta) ? 'resume' : 'fresh';
    o.log(`${mode === 'resume' ? 'resuming' : 'starting'} ${p.runId} (job ${id})`);
    const exec = startRunProcess(o.cli, p.settings, dir, mode, { env: { LGL2O_PARENT_PID: `${process.pid}` } });
    running.add(exec);
    let pushed = -1;
    let lost = false;
    const push = async (): Promise<void> => {
      const ck = join(dir, RUN_FILES.checkpoint);
      const mtime = existsSync(ck) ? statSync(ck).mtimeMs : -1;
      if (mtime === pushed || lost) return;
      pushed = mtime;
      if (!(await store.save(id, readRunFiles(dir), lock))) lost = true;
    };
    let syncing = Promise.resolve();
    const timer = setInterval(() => {
      syncing = syncing
        .then(async () => {
          await push();
          if (lost) return exec.stop();
          const at = tailProgress(join(dir, RUN_FILES.events));
          if (at) await job.updateProgress({ step: at.step, elapsedMs: at.elapsedMs, ...(at.loss !== undefined ? { loss: at.loss } : {}) });
        })
        .catch((err: unknown) => o.log(`job ${id}: ${err instanceof Error ? err.message : String(err)}`));
    }, o.syncMs);
    const exit = await exec.done;
    clearInterval(timer);
    running.delete(exec);
    await syncing;
    pushed = -2; // push the final files whatever the checkpoint's time
    await push();
    if (lost) throw new Error(`${p.runId}: job ${id} was taken over by another worker (this one lost its lock)`);
    if (exit.code === 130 && o.signal.aborted) {
      // Back to the queue at once, with its checkpoint in Redis, for the next worker.
      await job.moveToWait(token);
      o.log(`returned ${p.runId} to the queue at its last checkpoint`);
      throw new WaitingError();
    }
    rmSync(dir, { recursive: true, force: true });
    o.log(`${exit.code === 0 ? 'finished' : `ended (exit ${exit.code})`} ${p.runId} in ${(exit.wallMs / 1000).toFixed(1)} s`);
    return result(exit.code, exit.message, { wallMs: exit.wallMs, ...(exit.cpuMs !== undefined ? { cpuMs: exit.cpuMs } : {}) });
  };

  const worker = new Worker(
    o.target.name,
    async (job: Job, token?: string) => {
      if (job.name !== RUN_JOB) throw new UnrecoverableError(`unknown job kind ${JSON.stringify(job.name)} (expected ${RUN_JOB})`);
      return processJob(job, token);
    },
    { connection, concurrency: o.concurrency, lockDuration: o.lockMs, stalledInterval: o.lockMs, maxStalledCount: 10, autorun: false },
  );
  worker.on('completed', () => (completed += 1));
  worker.on('failed', (job, err) => {
    if (err instanceof WaitingError) return;
    failed += 1;
    o.log(`job ${job?.id ?? '?'} failed: ${err.message}`);
  });
  let lastError = '';
  worker.on('error', (err) => {
    const pw = o.target.address.password;
    if (err.message !== lastError) o.log(`worker: ${pw ? err.message.split(pw).join('***') : err.message}`); // once per outage, not per retry
    lastError = err.message;
  });
  worker.on('active', () => (lastError = ''));
  const closed = new Promise<void>((resolve) => {
    const stop = () => {
      for (const e of running) e.stop();
      void worker.close().then(resolve, resolve);
    };
    if (o.signal.aborted) stop();
    else o.signal.addEventListener('abort', stop, { once: true });
  });
  await worker.waitUntilReady();
  o.log(`worker ${me()} on queue ${o.target.name} at ${o.target.shown}, ${o.concurrency} at a time`);
  void worker.run();
  await closed;
  connection.disconnect();
  rmSync(scratch, { recursive: true, force: true });
  return { completed, failed };
}
