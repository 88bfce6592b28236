import type { TopLevelSpec } from 'vega-lite';
import { importOptional } from '../src/optionalPackage.js';
import { writeFileAtomic } from './files.js';

// vega, vega-lite and @resvg/resvg-js are optional peer dependencies: only figures need them.
const FEATURE = 'drawing figures';
const vegaLite = () => importOptional('vega-lite', FEATURE, () => import('vega-lite'));
const vega = () => importOptional('vega', FEATURE, () => import('vega'));
const resvg = () => importOptional('@resvg/resvg-js', FEATURE, () => import('@resvg/resvg-js'));

/** Renders a Vega-Lite spec to SVG text, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const [{ compile }, { View, parse }] = await Promise.all([vegaLite(), vega()]);
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Rasterises SVG text to PNG bytes at `scale` × its size. */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { Resvg } = await resvg();
  return new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, font: { loadSystemFonts: true }, background: 'white' }).render().asPng();
}

/** Writes `base.svg` and `base.png` for a figure; returns both paths. */
export async function writeFigure(spec: TopLevelSpec, base: string): Promise<{ svg: string; png: string }> {
  const svg = await renderSvg(spec);
  writeFileAtomic(`${base}.svg`, svg);
  writeFileAtomic(`${base}.png`, await svgToPng(svg));
  return { svg: `${base}.svg`, png: `${base}.png` };
}
