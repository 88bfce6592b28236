import type { StepEvent } from '../src/runs/events.js';
import { boundaryChart, guardChart, lossChart, type GuardPoint, type LossSeries } from './charts.js';
import { DEFAULTS, parseParams, toSearch, type PageParams } from './params.js';
import { BACKEND_CHOICES, CHECKPOINTS, DATASETS, OPTIMIZERS, type BackendChoice, type FromWorker, type RunSpec, type ToWorker } from './protocol.js';

/** Rounds whose losses the page exposes for comparison with Node (`data-losses` of [data-testid="first-losses"]). */
const FIRST_ROUNDS = 10;
/** Charts redraw at most this often (each redraw is tens of ms of the page's thread); the numbers twice as often. */
const REDRAW_MS = 500;

interface RunView {
  readonly spec: RunSpec;
  readonly label: string;
  readonly loss: [number, number][];
  readonly learned: [number, number][];
  readonly fallback: [number, number][];
  readonly guard: GuardPoint[];
  readonly first: StepEvent[];
  learnedWins: number;
  rounds: number;
  last: StepEvent | undefined;
  draws: number;
  status: 'starting' | 'running' | 'paused' | 'done' | 'failed';
  rate: [number, number][];
  data: [number, number, number][];
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page: element #${id} is missing`);
  return el as T;
};
const field = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id);
const stat = (id: string, text: string) => {
  $(id).textContent = text;
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const post = (m: ToWorker) => worker.postMessage(m);
const runs = new Map<number, RunView>();
const userPoints: [number, number, number][] = [];
let current: number | undefined;
let nextId = 1;
let backend: BackendChoice | undefined;
let ready = false;
let probabilities: Float32Array | undefined;

const losses = lossChart($('loss-chart'));
const guard = guardChart($('guard-chart'));
const boundary = boundaryChart($('boundary-chart'), (x, y, shift) => {
  const chosen = Number(document.querySelector<HTMLInputElement>('input[name="class"]:checked')?.value ?? 0);
  const label = (shift ? 1 - chosen : chosen) as 0 | 1;
  userPoints.push([x, y, label]);
  post({ type: 'point', x: [x, y], y: label });
  stat('user-points', String(userPoints.length));
  dirty = true;
});

function fillControls(p: PageParams): void {
  const options = (id: string, values: readonly string[], names: (v: string) => string = (v) => v) => {
    field(id).innerHTML = values.map((v) => `<option value="${v}">${names(v)}</option>`).join('');
  };
  options('dataset', DATASETS, (v) => (v === 'drawn' ? 'your points (click)' : v));
  options('optimizer', Object.keys(OPTIMIZERS), (v) => OPTIMIZERS[v as keyof typeof OPTIMIZERS]);
  options('checkpoint', CHECKPOINTS);
  const r = p.run;
  const values = { dataset: r.dataset, optimizer: r.optimizer, k: r.k, m: r.m, lr: r.lr ?? '', seed: r.seed, steps: r.steps, checkpoint: r.checkpoint };
  for (const [id, v] of Object.entries(values)) field(id).value = String(v);
}

/** The run the controls describe, checked like a link's parameters. */
function readControls(): PageParams['run'] {
  const search = new URLSearchParams();
  for (const id of ['dataset', 'optimizer', 'k', 'm', 'lr', 'seed', 'steps', 'checkpoint']) {
    const v = field(id).value.trim();
    if (v !== '') search.set(id, v);
  }
  return parseParams(search).run;
}

function start(run: PageParams['run']): void {
  const spec: RunSpec = { ...run, id: nextId++ };
  const km = spec.optimizer.startsWith('lgl2o') ? ` k=${spec.k} m=${spec.m}` : '';
  const label = `${spec.id}. ${OPTIMIZERS[spec.optimizer]}${km} · ${spec.dataset} · seed ${spec.seed}`;
  const empty = { loss: [], learned: [], fallback: [], guard: [], first: [], rate: [], data: [] };
  runs.set(spec.id, { spec, label, ...empty, learnedWins: 0, rounds: 0, last: undefined, draws: 0, status: 'starting' });
  current = spec.id;
  probabilities = undefined;
  history.replaceState(null, '', toSearch(run, backend));
  post({ type: 'start', run: spec });
  $('pause').textContent = 'Pause';
  dirty = true;
}

function onEvents(view: RunView, events: readonly StepEvent[]): void {
  view.status = view.status === 'starting' ? 'running' : view.status;
  for (const e of events) {
    view.rounds = e.round;
    view.last = e;
    if (view.first.length < FIRST_ROUNDS) view.first.push(e);
    view.loss.push([e.step, e.loss]);
    if (e.l2oLoss !== undefined) view.learned.push([e.step, e.l2oLoss]);
    if (e.fallbackLoss !== undefined) view.fallback.push([e.step, e.fallbackLoss]);
    if (e.useL2O !== undefined) {
      view.learnedWins += e.useL2O;
      const winner = e.winner ?? (e.useL2O === 1 ? 'learned' : 'fallback');
      view.guard.push({ step: e.step, winner, useL2O: view.learnedWins / e.round });
    }
  }
  const now = performance.now();
  view.rate.push([now, view.last?.step ?? 0]);
  while (view.rate.length > 2 && now - view.rate[1]![0] > 2000) view.rate.shift();
}

worker.onmessage = (e: MessageEvent<FromWorker>) => {
  const m = e.data;
  if (m.type === 'ready') {
    ready = true;
    stat('backend', m.backend);
    if (params?.autostart) start(params.run);
    return;
  }
  if (m.type === 'failed') {
    const view = m.id === undefined ? undefined : runs.get(m.id);
    if (view) view.status = 'failed';
    stat('status', m.message);
    console.error(`lgl2o demo: ${m.message}`);
    dirty = true;
    return;
  }
  const view = runs.get(m.id);
  if (!view) return;
  if (m.type === 'events') {
    onEvents(view, m.events);
    stat('tensors', String(m.tensors));
  } else if (m.type === 'data') {
    view.data = Array.from({ length: m.y.length }, (_, i) => [m.x[2 * i]!, m.x[2 * i + 1]!, m.y[i]!]);
  } else if (m.type === 'boundary') {
    if (m.id === current) probabilities = m.p;
  } else if (m.type === 'mixed') {
    view.draws = m.draws;
  } else if (m.type === 'done') {
    view.status = 'done';
  }
  dirty = true;
};

let dirty = false;
let chartsDirty = false;
const currentView = () => (current === undefined ? undefined : runs.get(current));

/** The run whose guard is shown: the current one if it is guarded, else the latest guarded run. */
function guardedView(view: RunView | undefined): RunView | undefined {
  if (view && view.guard.length > 0) return view;
  return [...runs.values()].reverse().find((r) => r.guard.length > 0);
}

function redrawCharts(): void {
  if (!chartsDirty) return;
  chartsDirty = false;
  const view = currentView();
  const guarded = guardedView(view);
  const series: LossSeries[] = [];
  for (const r of runs.values()) {
    series.push({ name: r.label, points: r.loss });
    if (r === guarded && r.learned.length > 0) series.push({ name: `${r.spec.id}. learned candidate`, points: r.learned });
    if (r === guarded && r.fallback.length > 0 && r.learned.length > 0) series.push({ name: `${r.spec.id}. fallback candidate`, points: r.fallback });
  }
  losses.update(series);
  $('loss-chart').dataset['points'] = String(series.reduce((n, s) => n + s.points.length, 0));
  guard.update(guarded?.guard ?? [], guarded ? `guard decisions of run ${guarded.label}` : 'guard decisions (guarded runs)');
  boundary.update(probabilities, view?.data ?? [], userPoints);
}

function redrawNumbers(): void {
  if (!dirty) return;
  dirty = false;
  chartsDirty = true;
  const view = currentView();
  const first = view?.first ?? [];
  const firstLosses = first.map((e) => ({ round: e.round, step: e.step, loss: e.loss, l2oLoss: e.l2oLoss, fallbackLoss: e.fallbackLoss }));
  $('first-losses').dataset['losses'] = JSON.stringify(firstLosses);
  stat('rounds', String(view?.rounds ?? 0));
  stat('step', String(view?.last?.step ?? 0));
  stat('loss', view?.last ? view.last.loss.toPrecision(4) : '–');
  stat('use-l2o', view && view.guard.length > 0 ? view.guard[view.guard.length - 1]!.useL2O.toFixed(2) : '–');
  const rate = view?.rate ?? [];
  const perSecond = rate.length >= 2 ? ((rate[rate.length - 1]![1] - rate[0]![1]) * 1000) / (rate[rate.length - 1]![0] - rate[0]![0]) : 0;
  stat('steps-per-second', view?.status === 'running' && Number.isFinite(perSecond) ? perSecond.toFixed(0) : '–');
  stat('user-draws', String(view?.draws ?? 0));
  const waiting = view?.spec.dataset === 'drawn' && view.rounds === 0 && userPoints.length === 0 ? ' (waiting for your points: click on the plot)' : '';
  if (view && view.status !== 'failed') stat('status', `run ${view.label}: ${view.status}${waiting}`);
}
setInterval(redrawNumbers, REDRAW_MS / 2);
setInterval(redrawCharts, REDRAW_MS);

let params: PageParams | undefined;
try {
  params = parseParams(new URLSearchParams(location.search));
  backend = params.backend;
  fillControls(params);
} catch (err) {
  fillControls({ run: DEFAULTS, autostart: false, backend: undefined });
  stat('status', err instanceof Error ? err.message : String(err));
  console.error(`lgl2o demo: ${err instanceof Error ? err.message : String(err)}`);
}
stat('backend', `starting${backend ? ` ${backend}` : ` (trying ${BACKEND_CHOICES.join(', ')})`}…`);
post({ type: 'init', backend });

$('start').addEventListener('click', () => {
  if (!ready) return;
  try {
    start(readControls());
  } catch (err) {
    stat('status', err instanceof Error ? err.message : String(err));
  }
});
$('pause').addEventListener('click', () => {
  const view = current === undefined ? undefined : runs.get(current);
  if (!view || (view.status !== 'running' && view.status !== 'paused')) return;
  const pausing = view.status === 'running';
  post({ type: pausing ? 'pause' : 'resume', id: view.spec.id });
  view.status = pausing ? 'paused' : 'running';
  $('pause').textContent = pausing ? 'Resume' : 'Pause';
  dirty = true;
});
$('reset').addEventListener('click', () => {
  post({ type: 'reset' });
  runs.clear();
  userPoints.length = 0;
  current = undefined;
  probabilities = undefined;
  stat('user-points', '0');
  stat('status', 'reset: start a run');
  dirty = true;
});
