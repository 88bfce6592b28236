/// <reference lib="webworker" />
import * as tf from '@tensorflow/tfjs';
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import { ReplaySubject, type Subscription } from 'rxjs';
import { parseJson } from '../src/codec/decode.js';
import { decodeCheckpoint, type L2OCheckpoint } from '../src/l2o/weightsCodec.js';
import { activeKernels } from '../src/engine/instance.js';
import { disposeTensorBatch, toTensorBatch } from '../src/optimizee/tensorBatch.js';
import type { Objective } from '../src/optimizee/objective.js';
import type { StepEvent } from '../src/runs/events.js';
import type { LiveExample } from '../streams/points.js';
import { selectBrowserBackend } from './backend.js';
import { GRID, type FromWorker, type RunSpec, type ToWorker } from './protocol.js';
import { prepareRun } from './run.js';

// Training runs here, off the page's thread: the page stays responsive whatever the backend does.
const scope = self as unknown as DedicatedWorkerGlobalScope;
const send = (message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

/** How often events, counts and the decision boundary go to the page. */
const FLUSH_MS = 100;
const BOUNDARY_MS = 300;
/** Training points sent to the page to draw under the boundary. */
const SHOWN_POINTS = 600;

interface Active {
  readonly spec: RunSpec;
  readonly objective: Objective;
  subscription: Subscription | undefined;
  paused: boolean;
  pending: StepEvent[];
  draws: number;
  sentDraws: number;
  /** A copy of the latest parameters, for the decision boundary. */
  x: tf.Tensor1D | undefined;
  boundaryStale: boolean;
}

let examples$ = new ReplaySubject<LiveExample>();
const runs = new Map<number, Active>();
let current: number | undefined;
const checkpoints = new Map<string, Promise<L2OCheckpoint>>();

function loadCheckpoint(name: string): Promise<L2OCheckpoint> {
  const url = new URL(`checkpoints/${name}.json`, scope.location.href.replace(/[^/]*$/, '')).href;
  let promise = checkpoints.get(url);
  if (promise === undefined) {
    promise = fetch(url).then(async (response) => {
      if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
      const text = await response.text();
      return pipe(
        parseJson(text, url),
        E.chain((json) => decodeCheckpoint(json, url)),
        E.getOrElseW((err) => {
          throw err;
        }),
      );
    });
    checkpoints.set(url, promise);
  }
  return promise;
}

const needsCheckpoint = (spec: RunSpec) => spec.optimizer !== 'sgd' && spec.optimizer !== 'adam';

async function start(spec: RunSpec): Promise<void> {
  const checkpoint = needsCheckpoint(spec) ? await loadCheckpoint(spec.checkpoint) : undefined;
  // The hooks run once the run is set up below (the first batch is pulled on subscription).
  const box: { active?: Active } = {};
  const prepared = prepareRun(spec, examples$, checkpoint, {
    paused: () => box.active?.paused ?? false,
    onMixed: (n) => {
      if (box.active) box.active.draws += n;
    },
    onRound: (state) => {
      const active = box.active;
      if (!active) return;
      active.x?.dispose();
      active.x = state.x.clone();
      active.boundaryStale = true;
    },
  });
  if (E.isLeft(prepared)) throw prepared.left;
  const run = prepared.right;
  const active: Active = {
    spec,
    objective: run.objective,
    subscription: undefined,
    paused: false,
    pending: [],
    draws: 0,
    sentDraws: 0,
    x: undefined,
    boundaryStale: false,
  };
  box.active = active;
  runs.set(spec.id, active);
  current = spec.id;
  if (run.train) {
    const n = Math.min(SHOWN_POINTS, run.train.count);
    send({ type: 'data', id: spec.id, x: run.train.x.slice(0, 2 * n), y: Int32Array.from(run.train.y.subarray(0, n)) });
  }
  const me = active;
  me.subscription = run.events$.subscribe({
    next: (event) => me.pending.push(event),
    error: (err: unknown) => {
      flush(me);
      send({ type: 'failed', id: spec.id, message: err instanceof Error ? err.message : String(err) });
    },
    complete: () => {
      flush(me);
      send({ type: 'done', id: spec.id });
    },
  });
}

function flush(run: Active): void {
  if (run.pending.length > 0) {
    send({ type: 'events', id: run.spec.id, events: run.pending, tensors: tf.memory().numTensors });
    run.pending = [];
  }
  if (run.draws !== run.sentDraws) {
    send({ type: 'mixed', id: run.spec.id, draws: run.draws });
    run.sentDraws = run.draws;
  }
}

/** The grid's points with label 1: exp(−loss) of each is the MLP's probability of class 1. */
const grid = (() => {
  const n = GRID.cells;
  const x = new Float32Array(2 * n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      x[2 * (i * n + j)] = -GRID.extent + ((j + 0.5) * 2 * GRID.extent) / n;
      x[2 * (i * n + j) + 1] = -GRID.extent + ((i + 0.5) * 2 * GRID.extent) / n;
    }
  }
  return { x, y: new Int32Array(n * n).fill(1), shape: [2], size: n * n };
})();

function sendBoundary(): void {
  const run = current === undefined ? undefined : runs.get(current);
  if (!run?.x || !run.boundaryStale) return;
  run.boundaryStale = false;
  const batch = toTensorBatch([grid]);
  try {
    const p = tf.tidy(() => run.objective.perExampleLoss(run.x!, batch).neg().exp().dataSync() as Float32Array);
    send({ type: 'boundary', id: run.spec.id, p: Float32Array.from(p) });
  } finally {
    disposeTensorBatch(batch);
  }
}

function stop(id: number): void {
  const run = runs.get(id);
  if (!run) return;
  run.subscription?.unsubscribe();
  run.x?.dispose();
  runs.delete(id);
}

function handle(message: ToWorker): void {
  switch (message.type) {
    case 'init':
      void selectBrowserBackend(message.backend, new URL('wasm/', scope.location.href.replace(/[^/]*$/, '')).href).then(
        (backend) => send({ type: 'ready', backend: backend === 'wasm' && activeKernels() !== null ? 'wasm (with the fused kernels)' : backend }),
        (err: unknown) => send({ type: 'failed', id: undefined, message: err instanceof Error ? err.message : String(err) }),
      );
      return;
    case 'start':
      void start(message.run).catch((err: unknown) => send({ type: 'failed', id: message.run.id, message: err instanceof Error ? err.message : String(err) }));
      return;
    case 'pause':
    case 'resume': {
      const run = runs.get(message.id);
      if (run) run.paused = message.type === 'pause';
      return;
    }
    case 'stop':
      stop(message.id);
      return;
    case 'point':
      examples$.next({ x: message.x, y: message.y });
      return;
    case 'reset':
      for (const id of [...runs.keys()]) stop(id);
      examples$.complete();
      examples$ = new ReplaySubject<LiveExample>();
      current = undefined;
      return;
  }
}

scope.onmessage = (e: MessageEvent<ToWorker>) => handle(e.data);
setInterval(() => runs.forEach(flush), FLUSH_MS);
setInterval(sendBoundary, BOUNDARY_MS);
