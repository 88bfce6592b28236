import * as E from 'fp-ts/lib/Either.js';
import { Job, Queue } from 'bullmq';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RUN_FILES } from '../../src/runs/runDir.js';
import { decodeWith } from '../../src/codec/decode.js';
import { RUN_JOB, RunJobProgress, RunJobResult, runJobId, type RunJobPayload } from '../../src/runs/queueJob.js';
import { jobSettings, type Executor, type RunExit } from '../experiment/pool.js';
import { redisConnection, snapshotPrefix, type QueueTarget } from './connection.js';
import { readRunFiles, SnapshotStore, writeRunFiles } from './snapshot.js';

export interface QueueExecutorOptions {
  readonly target: QueueTarget;
  /** The learned optimizer as the experiment names it, and its checksum (workers check theirs). */
  readonly l2o: string;
  readonly l2oSha256?: string;
  readonly pollMs: number;
  /** Rounds between checkpoints (default: about every 1 000 steps): what a killed worker's successor redoes at most. */
  readonly checkpointEvery?: number;
  readonly log: (line: string) => void;
}

interface Tracked {
  readonly id: string;
  readonly dir: string;
  readonly payload: RunJobPayload;
  readonly resume: boolean;
  readonly resolve: (exit: RunExit) => void;
  progress?: RunJobProgress;
  started: boolean;
  /** The job is on the queue and no worker has it. */
  waiting: boolean;
  /** Its files are being written into the run's directory: a stop waits for that to end (see `stop`). */
  collecting?: boolean;
}

export interface QueueExecutor {
  readonly executor: Executor;
  /** Workers connected to the queue now. */
  workers(): Promise<number>;
  close(): Promise<void>;
}

/**
 * Runs an experiment's runs as BullMQ jobs: each run becomes a job (its id a hash of what it
 * computes, so a restarted coordinator finds the jobs it made), and a finished job's files,
 * which the worker left in Redis, are written into the run's directory. Stopping leaves the
 * jobs on the queue; the workers go on with them.
 */
export function queueExecutor(o: QueueExecutorOptions): QueueExecutor {
  const connection = redisConnection(o.target, 'coordinator', o.log);
  const queue = new Queue(o.target.name, { connection });
  queue.on('error', () => undefined); // the connection reports its own errors, once each
  const store = new SnapshotStore(connection, snapshotPrefix(o.target));
  const tracked = new Map<string, Tracked>();
  const t0 = performance.now();
  const settle = (t: Tracked, exit: Omit<RunExit, 'wallMs'> & { wallMs?: number }) => {
    tracked.delete(t.id);
    t.resolve({ wallMs: performance.now() - t0, ...exit });
  };

  /** Puts the job on the queue (a no-op when it is there), with the local partial run as its starting point. */
  const enqueue = async (t: Tracked): Promise<void> => {
    const old = await Job.fromId(queue, t.id);
    if (old && (await old.getState()) === 'failed') await old.remove();
    else if (old) return;
    if (t.resume && existsSync(join(t.dir, RUN_FILES.meta)) && !(await store.exists(t.id))) await store.save(t.id, readRunFiles(t.dir));
    await queue.add(RUN_JOB, t.payload, { jobId: t.id, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: false, removeOnFail: false });
  };

  const collect = async (t: Tracked, job: Job): Promise<void> => {
    // Stopped while its state was being read: leave the finished job and its files for the next
    // coordinator. Writing run.json now would mark the run done with its CPU time unrecorded.
    if (!tracked.has(t.id)) return;
    t.collecting = true;
    const r = decodeWith(RunJobResult, job.returnvalue, `job ${t.id}: result`);
    if (E.isLeft(r)) return settle(t, { code: 1, message: r.left.message });
    const files = await store.load(t.id);
    if (!files) return settle(t, { code: 1, message: `job ${t.id}: finished on ${r.right.worker}, but its files are gone from Redis` });
    writeRunFiles(t.dir, files);
    await job.remove();
    await store.remove(t.id);
    settle(t, { code: r.right.code, message: r.right.message, wallMs: r.right.wallMs, ...(r.right.cpuMs !== undefined ? { cpuMs: r.right.cpuMs } : {}) });
  };

  const check = async (t: Tracked): Promise<void> => {
    if (!t.started) {
      await enqueue(t);
      t.started = true;
    }
    const job = await Job.fromId(queue, t.id);
    if (!job) {
      // Redis lost the job (restarted without persistence): put it on again.
      o.log(`job ${t.id} is gone from the queue; adding it again`);
      t.started = false;
      return;
    }
    const state = await job.getState();
    if (state === 'completed' || state === 'failed') {
      // `job` was read before its state: it may predate the finish and lack the return value or the reason.
      const finished = await Job.fromId(queue, t.id);
      if (!finished) return;
      if (state === 'completed') return collect(t, finished);
      return settle(t, { code: 1, message: `job ${t.id}: ${finished.failedReason ?? 'failed'}` });
    }
    t.waiting = state !== 'active';
    const p = RunJobProgress.decode(job.progress);
    if (E.isRight(p)) t.progress = p.right;
  };

  let closed = false;
  const loop = async () => {
    while (!closed) {
      await Promise.all(
        [...tracked.values()].map((t) => check(t).catch((err: unknown) => o.log(`job ${t.id}: ${err instanceof Error ? err.message : String(err)}`))),
      );
      await new Promise((r) => setTimeout(r, o.pollMs));
    }
  };
  const looping = loop();

  const executor: Executor = (run, dir, mode) => {
    const payload: RunJobPayload = {
      version: 1,
      runId: run.id,
      config: run.config,
      settings: { ...jobSettings(run), ...(o.checkpointEvery !== undefined ? { checkpointEvery: o.checkpointEvery } : {}) },
      l2o: o.l2o,
      ...(o.l2oSha256 !== undefined ? { l2oSha256: o.l2oSha256 } : {}),
    };
    let entry: Tracked | undefined;
    const done = new Promise<RunExit>((resolve) => {
      entry = { id: runJobId(payload), dir, payload, resume: mode === 'resume', resolve, started: false, waiting: true };
      tracked.set(entry.id, entry);
    });
    return {
      done,
      // A run whose files are being collected finishes as done: stopping it then would leave its
      // run.json written (so a restart skips it) but the job's CPU time (timing.json) unrecorded.
      stop: () => {
        if (!entry!.collecting) settle(entry!, { code: 130, message: 'the coordinator stopped; the job stays on the queue' });
      },
      progress: () => entry!.progress,
      waiting: () => entry!.waiting,
    };
  };
  return {
    executor,
    workers: () => queue.getWorkersCount(),
    async close() {
      closed = true;
      await looping;
      await queue.close();
      connection.disconnect();
    },
  };
}
