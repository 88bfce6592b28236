import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Results } from './claims.js';
import { fmt } from './claims.js';
import { sampleAt } from './curves.js';

/** A setting's value: a number, a choice (`paired`) or a switch (`true`/`false`). */
export type GridValue = number | string | boolean;
/** The axes of a sweep in the order given: each key with the values it takes. */
export type Grid = readonly (readonly [string, readonly GridValue[]])[];
export type GridPoint = Readonly<Record<string, GridValue>>;

const value = (text: string): GridValue =>
  text === 'true' ? true : text === 'false' ? false : text.trim() !== '' && Number.isFinite(Number(text)) ? Number(text) : text;

/** `k=5,10,20` `m=5,10` → the grid; errors name the spec at fault. */
export function parseGridSpecs(specs: readonly string[]): E.Either<Error, Grid> {
  const grid: [string, GridValue[]][] = [];
  for (const spec of specs) {
    const m = /^([A-Za-z][\w-]*)=(.+)$/.exec(spec.trim());
    if (!m) return E.left(new Error(`--grid ${spec}: expected KEY=V1,V2,... (e.g. k=5,10,20)`));
    const [, key, list] = m;
    const values = list!.split(',').map((v) => v.trim());
    if (values.some((v) => v === '')) return E.left(new Error(`--grid ${spec}: an empty value`));
    if (grid.some(([k]) => k === key)) return E.left(new Error(`--grid ${spec}: ${key} is given twice`));
    if (new Set(values).size !== values.length) return E.left(new Error(`--grid ${spec}: a value is repeated`));
    grid.push([key!, values.map(value)]);
  }
  return grid.length > 0 ? E.right(grid) : E.left(new Error('--grid: no setting to sweep'));
}

/** A grid file: `{"k": [5, 10, 20], "m": [5, 10]}`. */
export const GridFile = t.record(t.string, t.array(t.union([t.number, t.string, t.boolean])), 'GridFile');

export function gridFromFile(raw: t.TypeOf<typeof GridFile>, source: string): E.Either<Error, Grid> {
  const specs = Object.entries(raw).map(([k, vs]) => `${k}=${vs.join(',')}`);
  return E.mapLeft((e: Error) => new Error(`${source}: ${e.message.replace(/^--grid /, '')}`))(parseGridSpecs(specs));
}

/** Every combination, the last axis varying fastest. */
export function gridPoints(grid: Grid): GridPoint[] {
  return grid.reduce<GridPoint[]>((points, [key, values]) => points.flatMap((p) => values.map((v) => ({ ...p, [key]: v }))), [{}]);
}

/** A point's id and directory name: `k=5,m=10`. */
export const pointId = (p: GridPoint): string =>
  Object.entries(p)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',');

export interface SweepRow {
  readonly rank: number;
  readonly setting: string;
  /** Mean of the seeds' final training loss (+∞ for a diverged seed: ranked last), with its spread. */
  readonly mean: number;
  readonly sd: number;
  readonly best: number;
  readonly worst: number;
  readonly seeds: number;
  readonly diverged: number;
}

/** The settings ranked by their mean final training loss over the seeds that are done (lowest first). */
export function rankSweep(r: Results): SweepRow[] {
  const rows = [...r.runs.entries()].map(([setting, runs]) => {
    const finals = runs.map((run) => sampleAt(run, r.horizon)?.loss ?? Infinity);
    const mean = finals.reduce((a, b) => a + b, 0) / finals.length;
    const finite = finals.every(Number.isFinite);
    const sd = finite && finals.length > 1 ? Math.sqrt(finals.reduce((a, b) => a + (b - mean) ** 2, 0) / (finals.length - 1)) : finite ? 0 : NaN;
    return {
      setting,
      mean,
      sd,
      best: Math.min(...finals),
      worst: Math.max(...finals),
      seeds: runs.length,
      diverged: runs.filter((x) => x.status === 'diverged').length,
    };
  });
  rows.sort((a, b) => a.mean - b.mean || a.worst - b.worst || a.setting.localeCompare(b.setting));
  return rows.map((row, i) => ({ rank: i + 1, ...row }));
}

export function sweepTable(rows: readonly SweepRow[], horizon: number): string {
  const head = [
    `| rank | setting | final training loss at step ${horizon}, mean ± sd | best | worst | seeds | diverged |`,
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: |',
  ].join('\n');
  const sd = (r: SweepRow) => (Number.isNaN(r.sd) ? 'n/a' : r.sd === 0 ? '0' : fmt(r.sd));
  const line = (r: SweepRow) => `| ${r.rank} | ${r.setting} | ${fmt(r.mean)} ± ${sd(r)} | ${fmt(r.best)} | ${fmt(r.worst)} | ${r.seeds} | ${r.diverged} |`;
  return [head, ...rows.map(line)].join('\n');
}
