import type { TopLevelSpec } from 'vega-lite';

/** One line of a figure: the mean over seeds with a min–max band, at shared x positions. */
export interface Series {
  readonly name: string;
  readonly points: ReadonlyArray<{ readonly x: number; readonly mean: number; readonly min: number; readonly max: number }>;
}

export interface LineFigure {
  readonly title: string;
  readonly xTitle: string;
  readonly yTitle: string;
  readonly series: readonly Series[];
  readonly logX?: boolean;
  readonly logY?: boolean;
  readonly width?: number;
  readonly height?: number;
  /** Fixed x range (shared by the track), instead of a nice-rounded one. */
  readonly xDomain?: readonly [number, number];
  /** Fixed colors by series name, in legend order (a track's series reuse the names). */
  readonly colors?: ReadonlyArray<{ readonly name: string; readonly color: string }>;
}

/** An optional track under the main plot, e.g. LGL2O's use_l2o (1 learned, 0.5 fallback). */
export interface Track {
  readonly title: string;
  readonly series: readonly Series[];
}

const rows = (series: readonly Series[]) =>
  series.flatMap((s) => s.points.filter((p) => Number.isFinite(p.mean)).map((p) => ({ series: s.name, x: p.x, mean: p.mean, min: p.min, max: p.max })));

function layer(fig: Omit<LineFigure, 'title' | 'series'> & { series: readonly Series[] }, height: number): Record<string, unknown> {
  const domain = fig.xDomain ? { domain: [...fig.xDomain], nice: false } : {};
  const x = { field: 'x', type: 'quantitative', title: fig.xTitle, scale: fig.logX ? { type: 'log', ...domain } : domain } as const;
  const y = { type: 'quantitative', title: fig.yTitle, scale: fig.logY ? { type: 'log' } : { zero: false } } as const;
  const scale = fig.colors ? { scale: { domain: fig.colors.map((c) => c.name), range: fig.colors.map((c) => c.color) } } : {};
  const color = { field: 'series', type: 'nominal', title: null, ...scale } as const;
  return {
    width: fig.width ?? 640,
    height,
    data: { values: rows(fig.series) },
    layer: [
      { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { ...y, field: 'min' }, y2: { field: 'max' }, color } },
      { mark: { type: 'line', strokeWidth: 1.6 }, encoding: { x, y: { ...y, field: 'mean' }, color } },
    ],
  };
}

/**
 * A paper-style figure as a Vega-Lite spec: mean lines with shaded min–max bands, and an
 * optional track plotted under it on the same x axis.
 */
export function lineFigureSpec(fig: LineFigure, track?: Track): TopLevelSpec {
  const main = layer(fig, fig.height ?? 320);
  const base = { $schema: 'https://vega.github.io/schema/vega-lite/v5.json', title: fig.title, background: 'white' } as const;
  if (!track) return { ...base, ...main } as TopLevelSpec;
  const under = layer({ ...fig, yTitle: track.title, logY: false, series: track.series }, 90);
  return { ...base, vconcat: [main, under], resolve: { scale: { color: 'shared' } } } as unknown as TopLevelSpec;
}
