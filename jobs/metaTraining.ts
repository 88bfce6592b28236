import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, map, takeWhile, tap, type Observable } from 'rxjs';
import { metaCheckpointJson, type Provenance } from '../src/meta/snapshot.js';
import type { MetaEvent, MetaTrainer } from '../src/meta/trainer.js';
import { disposeAll } from '../src/tensor/state.js';
import { ndjsonSink } from '../streams/ndjson.js';
import { progressBar } from '../streams/progress.js';
import { pulled } from '../streams/source.js';
import { writeFileAtomic } from './files.js';

/** The files of a meta-training directory. */
export const META_FILES = { log: 'meta.ndjson', best: 'best.json', last: 'last.json' } as const;

const writeAtomic = (path: string, value: unknown): void => writeFileAtomic(path, `${JSON.stringify(value)}\n`);

/** Meta-steps as a stream: one event per meta-step, completing after the last one. */
export function metaSteps$(trainer: MetaTrainer): Observable<MetaEvent> {
  return pulled(() => trainer.step()).pipe(takeWhile(() => !trainer.done, true));
}

/**
 * Writes DIR/last.json at every episode boundary (the points a run resumes from) and
 * DIR/best.json whenever an evaluation is the best so far; passes events through.
 */
export function checkpointSink(trainer: MetaTrainer, dir: string, provenance: Provenance) {
  return tap((e: MetaEvent) => {
    if (!trainer.atEpisodeBoundary) return;
    const weights = trainer.weights();
    try {
      const settings = trainer.settings;
      const info = { metaStep: e.metaStep, wallMs: e.wallMs, provenance };
      if (e.best === true) writeAtomic(join(dir, META_FILES.best), metaCheckpointJson(settings, weights, { ...info, evalLoss: e.evalLoss ?? null }));
      writeAtomic(
        join(dir, META_FILES.last),
        metaCheckpointJson(settings, weights, { ...info, evalLoss: e.evalLoss ?? null }, { position: trainer.savedPosition(), opt: trainer.metaOpt() }),
      );
    } finally {
      disposeAll(weights);
    }
  });
}

/** Cuts the log back to the lines of meta-steps ≤ `metaStep` (those after it will be redone). */
export function truncateLog(path: string, metaStep: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => {
      if (line.trim() === '') return false;
      try {
        const value: unknown = JSON.parse(line);
        return typeof value === 'object' && value !== null && 'metaStep' in value && typeof value.metaStep === 'number' && value.metaStep <= metaStep;
      } catch {
        return false; // a line cut off by the interruption
      }
    });
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}

export interface MetaTrainJobOptions {
  readonly dir: string;
  readonly provenance: Provenance;
  readonly progress: boolean;
  /** Appends to an existing log (a resumed run). */
  readonly append: boolean;
  readonly signal?: AbortSignal;
}

/** Runs the trainer to its end: log, checkpoints and progress bar. Resolves with the last event. */
export async function runMetaTraining(trainer: MetaTrainer, opts: MetaTrainJobOptions): Promise<MetaEvent | undefined> {
  const from = trainer.metaStep;
  const total = trainer.settings.metaSteps - from;
  if (total <= 0) return undefined;
  const events$ = metaSteps$(trainer).pipe(
    takeWhile(() => opts.signal?.aborted !== true),
    checkpointSink(trainer, opts.dir, opts.provenance),
    ndjsonSink<MetaEvent>(join(opts.dir, META_FILES.log), { append: opts.append, syncEvery: 1 }),
    map((e) => ({ ...e, step: e.metaStep - from, loss: e.meanLoss })),
    progressBar({ total, label: 'meta-train', enabled: opts.progress }),
  );
  return lastValueFrom(events$, { defaultValue: undefined });
}
