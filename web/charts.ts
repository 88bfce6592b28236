import { LineChart, ScatterChart } from 'echarts/charts';
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { GRID } from './protocol.js';

echarts.use([LineChart, ScatterChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, CanvasRenderer]);

export const CLASS_COLORS = ['#1f77b4', '#ff7f0e'] as const;
const WINNERS = ['fallback', 'learned', 'anchor'] as const;

/** At most about `max` points of a long curve (every k-th, and the last): enough for a plot of a few hundred pixels. */
function thin<T>(points: readonly T[], max = 1200): T[] {
  if (points.length <= max) return [...points];
  const k = Math.ceil(points.length / max);
  const kept = points.filter((_, i) => i % k === 0);
  if ((points.length - 1) % k !== 0) kept.push(points[points.length - 1]!);
  return kept;
}

export interface LossSeries {
  readonly name: string;
  readonly points: [number, number][];
}

/** Loss against optimizer steps, both on log axes (as in the paper's figures). */
export function lossChart(el: HTMLElement): { update(series: readonly LossSeries[]): void } {
  const chart = echarts.init(el);
  chart.setOption({
    title: { text: 'loss (comparison batches for guards, batch loss otherwise)', textStyle: { fontSize: 13 } },
    tooltip: { trigger: 'axis' },
    legend: { top: 22, type: 'scroll' },
    grid: { top: 60, left: 55, right: 20, bottom: 40 },
    xAxis: { type: 'log', name: 'step', nameLocation: 'middle', nameGap: 25, min: 1 },
    yAxis: { type: 'log', name: 'loss', nameLocation: 'middle', nameGap: 35 },
    animation: false,
    series: [],
  });
  let count = 0;
  return {
    update: (series) => {
      // Series are replaced only when runs come or go: merging by position keeps a redraw cheap.
      chart.setOption(
        { series: series.map((s) => ({ name: s.name, type: 'line', showSymbol: false, data: thin(s.points) })) },
        series.length === count ? {} : { replaceMerge: ['series'] },
      );
      count = series.length;
    },
  };
}

export interface GuardPoint {
  readonly step: number;
  readonly winner: (typeof WINNERS)[number];
  /** Fraction of rounds so far the learned optimizer's point was kept. */
  readonly useL2O: number;
}

/** The guard's decision in every round (which candidate was kept) and the running use_l2o fraction. */
export function guardChart(el: HTMLElement): { update(points: readonly GuardPoint[], title: string): void } {
  const chart = echarts.init(el);
  chart.setOption({
    tooltip: { trigger: 'item' },
    legend: { top: 22 },
    grid: { top: 60, left: 70, right: 55, bottom: 40 },
    xAxis: { type: 'log', name: 'step', nameLocation: 'middle', nameGap: 25, min: 1 },
    yAxis: [
      { type: 'category', data: [...WINNERS], name: 'winner' },
      { type: 'value', min: 0, max: 1, name: 'use_l2o' },
    ],
    animation: false,
    series: [],
  });
  return {
    update: (points, title) =>
      chart.setOption({
        title: { text: title, textStyle: { fontSize: 13 } },
        series: [
          { name: 'winner', type: 'scatter', symbolSize: 4, large: points.length > 0, largeThreshold: 0, data: thin(points).map((p) => [p.step, p.winner]) },
          { name: 'use_l2o (running mean)', type: 'line', yAxisIndex: 1, showSymbol: false, data: thin(points).map((p) => [p.step, p.useL2O]) },
        ],
      }),
  };
}

export type ClassPoint = readonly [number, number, number];

export interface BoundaryView {
  /** Redraws what changed (pass the same arrays again when they have not). */
  update(p: Float32Array | undefined, data: readonly ClassPoint[], user: readonly ClassPoint[]): void;
}

/** Shades of P(class 1), from class 0's colour through white to class 1's. */
const SHADES = 11;
const shade = (level: number): string => {
  const t = level / (SHADES - 1);
  const [from, to] =
    t < 0.5
      ? [
          [0x9e, 0xc5, 0xe8],
          [0xf7, 0xf7, 0xf7],
        ]
      : [
          [0xf7, 0xf7, 0xf7],
          [0xfd, 0xc0, 0x8a],
        ];
  const u = t < 0.5 ? 2 * t : 2 * t - 1;
  return `rgb(${from.map((c, i) => Math.round(c + (to[i]! - c) * u)).join(',')})`;
};

/**
 * The MLP's probability of class 1 on a grid (squares in 11 shades) under the training points
 * and the points a person clicked; a click adds a point at the clicked coordinates. Every
 * series has one colour, so ECharts draws each as one path (`large`): a redraw stays cheap.
 */
export function boundaryChart(el: HTMLElement, onClick: (x: number, y: number, shift: boolean) => void): BoundaryView {
  const chart = echarts.init(el);
  const n = GRID.cells;
  const centre = (i: number) => -GRID.extent + ((i + 0.5) * 2 * GRID.extent) / n;
  /** Pixel size of a grid cell, so that the squares tile the plot. */
  const cell = (): number | number[] => {
    const a = chart.convertToPixel({ gridIndex: 0 }, [-GRID.extent, -GRID.extent]);
    const b = chart.convertToPixel({ gridIndex: 0 }, [GRID.extent, GRID.extent]);
    if (!Array.isArray(a) || !Array.isArray(b)) return 8;
    return [Math.ceil((b[0]! - a[0]!) / n) + 1, Math.ceil((a[1]! - b[1]!) / n) + 1];
  };
  const shadeSeries = Array.from({ length: SHADES }, (_, level) => ({
    type: 'scatter',
    symbol: 'rect',
    largeThreshold: 0,
    silent: true,
    itemStyle: { color: shade(level) },
    data: [] as number[][],
  }));
  const pointSeries = (name: string, c: number, size: number, border: boolean) => ({
    name,
    type: 'scatter',
    symbolSize: size,
    silent: true,
    largeThreshold: 0,
    itemStyle: { color: CLASS_COLORS[c], ...(border ? { borderColor: '#000', borderWidth: 1.5 } : {}) },
    data: [] as number[][],
  });
  chart.setOption({
    title: { text: 'decision boundary: P(class 1) — click to add a point (shift: the other class)', textStyle: { fontSize: 13 } },
    grid: { top: 40, left: 40, right: 20, bottom: 30 },
    xAxis: { type: 'value', min: -GRID.extent, max: GRID.extent },
    yAxis: { type: 'value', min: -GRID.extent, max: GRID.extent },
    animation: false,
    series: [
      ...shadeSeries,
      pointSeries('class 0', 0, 4, false),
      pointSeries('class 1', 1, 4, false),
      pointSeries('your class 0', 0, 11, true),
      pointSeries('your class 1', 1, 11, true),
    ],
  });
  chart.getZr().on('click', (e) => {
    const at = chart.convertFromPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY]);
    if (!Array.isArray(at)) return;
    const [x, y] = at as number[];
    if (Math.abs(x!) <= GRID.extent && Math.abs(y!) <= GRID.extent) onClick(x!, y!, Boolean((e.event as MouseEvent | undefined)?.shiftKey));
  });
  // Large mode (one path per series) fails on an empty series in ECharts 6.1: only where there are points.
  const large = <T extends { data: number[][] }>(series: T) => ({ ...series, large: series.data.length > 0 });
  const byClass = (pts: readonly ClassPoint[], c: number) => pts.filter((p) => p[2] === c).map(([x, y]) => [x, y]);
  let shown: { p: Float32Array | undefined; data: readonly ClassPoint[]; userCount: number } = { p: undefined, data: [], userCount: 0 };
  return {
    update: (p, data, user) => {
      if (p === shown.p && data === shown.data && user.length === shown.userCount) return;
      shown = { p, data, userCount: user.length };
      const levels: number[][][] = Array.from({ length: SHADES }, () => []);
      if (p) for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) levels[Math.round(p[i * n + j]! * (SHADES - 1))]!.push([centre(j), centre(i)]);
      const size = cell();
      chart.setOption({
        series: [
          ...levels.map((d) => large({ data: d, symbolSize: size })),
          large({ data: byClass(data, 0) }),
          large({ data: byClass(data, 1) }),
          { data: byClass(user, 0) },
          { data: byClass(user, 1) },
        ],
      });
    },
  };
}
