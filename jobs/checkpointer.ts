import * as tf from '@tensorflow/tfjs';
import { tap, type MonoTypeOperatorFunction } from 'rxjs';
import { join } from 'node:path';
import { RUN_FILES } from '../src/runs/runDir.js';
import { encodeRunCheckpoint, type CheckpointReason, type RunCheckpoint } from '../src/runs/checkpoint.js';
import type { RoundState } from '../src/guard/round.js';
import type { StepEvent } from '../src/runs/events.js';
import type { NdjsonWriter } from '../streams/ndjson.js';
import { appendToFile, writeFileAtomic } from './files.js';

/** The run at a round boundary: its state (owned by the train operator) and where its counters stood. */
export interface RoundPoint {
  readonly state: RoundState;
  readonly step: number;
  readonly round: number;
  readonly elapsedMs: number;
  readonly sampler: RunCheckpoint['sampler'];
  readonly comparisonSampler: RunCheckpoint['comparisonSampler'];
}

/** What the journal records per checkpoint: enough to see that memory stays flat over a long run. */
export interface JournalLine {
  readonly step: number;
  readonly round: number;
  readonly reason: CheckpointReason;
  readonly numTensors: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  readonly elapsedMs: number;
  readonly savedAt: string;
}

/**
 * Writes a run's checkpoints into its directory: the event log is flushed first, so the
 * length the checkpoint records is on disk before the checkpoint that points to it.
 */
export class Checkpointer {
  /** The step of the newest checkpoint on disk (from this process or the one resumed). */
  lastStep: number | undefined;

  constructor(
    private readonly dir: string,
    private readonly base: Pick<RunCheckpoint, 'config' | 'settings' | 'backend' | 'inputs'>,
    private readonly log: NdjsonWriter,
    lastStep?: number,
  ) {
    this.lastStep = lastStep;
  }

  get path(): string {
    return join(this.dir, RUN_FILES.checkpoint);
  }

  /**
   * Saves the run at `point`, unless its parameters hold a non-finite value: then the last
   * finite checkpoint stays in place and this returns false.
   */
  write(point: RoundPoint, reason: CheckpointReason): boolean {
    if (!point.state.x.dataSync().every(Number.isFinite)) return false;
    this.log.sync();
    const savedAt = new Date().toISOString();
    const ck: RunCheckpoint = {
      ...this.base,
      step: point.step,
      round: point.round,
      elapsedMs: point.elapsedMs,
      log: { bytes: this.log.bytes, lines: this.log.lines },
      sampler: point.sampler,
      comparisonSampler: point.comparisonSampler,
      reason,
      savedAt,
    };
    writeFileAtomic(this.path, encodeRunCheckpoint(ck, point.state));
    this.lastStep = point.step;
    const memory = process.memoryUsage();
    const line: JournalLine = {
      step: point.step,
      round: point.round,
      reason,
      numTensors: tf.memory().numTensors,
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      elapsedMs: Math.round(point.elapsedMs),
      savedAt,
    };
    appendToFile(join(this.dir, RUN_FILES.journal), `${JSON.stringify(line)}\n`);
    return true;
  }
}

/** Checkpoints the run every `every` rounds and at its last step (`latest`: the round just finished), passing events through. */
export function checkpointRounds(checkpointer: Checkpointer, latest: () => RoundPoint, every: number, steps: number): MonoTypeOperatorFunction<StepEvent> {
  return tap((e) => {
    if (e.round % every === 0 || e.step >= steps) checkpointer.write(latest(), e.step >= steps ? 'final' : 'interval');
  });
}
