import { describe, expect, it } from 'vitest';
import { lineFigureSpec } from '../src/figures/lineFigure.js';
import { renderSvg, svgToPng } from '../jobs/renderFigure.js';

describe('figures', () => {
  it('renders mean lines with min–max bands and a track to SVG and PNG', async () => {
    const pts = (f: (x: number) => number) => [1, 10, 100, 1000].map((x) => ({ x, mean: f(x), min: f(x) * 0.9, max: f(x) * 1.1 }));
    const spec = lineFigureSpec(
      {
        title: 'test',
        xTitle: 'step',
        yTitle: 'loss',
        logX: true,
        logY: true,
        series: [
          { name: 'sgd', points: pts((x) => 1 / x) },
          { name: 'l2o', points: pts((x) => 2 / x) },
        ],
      },
      { title: 'use_l2o', series: [{ name: 'lgl2o', points: pts(() => 1) }] },
    );
    const svg = await renderSvg(spec);
    expect(svg.startsWith('<svg')).toBe(true);
    // one band (area) and one line per series in the main plot, one of each in the track
    expect((svg.match(/class="mark-line role-mark concat_0/g) ?? []).length).toBe(2);
    expect((svg.match(/class="mark-area role-mark concat_0/g) ?? []).length).toBe(2);
    expect((svg.match(/class="mark-line role-mark concat_1/g) ?? []).length).toBe(1);
    expect(svg).toContain('sgd');
    const png = await svgToPng(svg, 1);
    expect(Array.from(png.slice(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });
});
