import * as d3 from 'd3';
import { D3Node } from 'd3-node';

export type Svg = d3.Selection<SVGSVGElement, unknown, null, undefined>;
export type Group = d3.Selection<SVGGElement, unknown, null, undefined>;

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';

/** A fresh SVG canvas (d3-node, no browser) with a title and a description for screen readers. */
export function canvas(width: number, height: number, title: string): { svg: Svg; done: () => string } {
  const d3n = new D3Node({ d3Module: d3 });
  const svg = d3n.createSVG(width, height, { viewBox: `0 0 ${width} ${height}`, role: 'img', 'font-family': FONT, 'font-size': 11 });
  svg.append('title').text(title);
  svg
    .append('text')
    .attr('class', 'chart-title')
    .attr('x', 8)
    .attr('y', 16)
    .attr('font-size', 13)
    .attr('font-weight', 600)
    .text(title);
  return { svg, done: () => roundGeometry(d3n.svgString()) };
}

/**
 * Coordinates in attribute values to two decimals (a hundredth of a pixel): d3's
 * scales give fifteen, which only make the files larger. Text, and so every tooltip's
 * value, is left as it is.
 */
const roundGeometry = (svg: string): string => svg.replace(/="[^"]*"/g, (value) => value.replace(/-?\d+\.\d{3,}/g, (n) => String(Number(Number(n).toFixed(2)))));

/** A number as a tooltip shows it: enough digits to be exact at float32. */
export const exact = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(7))) : 'n/a');
/** A number as a label shows it. */
export const short = (v: number): string => (Number.isFinite(v) ? (Math.abs(v) >= 0.01 || v === 0 ? v.toFixed(3) : v.toExponential(1)) : 'n/a');

/** Sequential, colour-blind-safe scale (viridis) over [min, max]. */
export function sequentialScale(min: number, max: number): d3.ScaleSequential<string> {
  return d3.scaleSequential(d3.interpolateViridis).domain([min, max === min ? min + 1e-9 : max]);
}

/** Greys over [min, max]: for cells set apart from a map's main scale (the attention sink). */
export function greyScale(min: number, max: number): d3.ScaleSequential<string> {
  return d3.scaleSequential((t) => d3.interpolateGreys(0.15 + 0.85 * t)).domain([min, max === min ? min + 1e-9 : max]);
}

/** Diverging, colour-blind-safe scale (purple–orange) centred on zero and symmetric. */
export function divergingScale(maxAbs: number): d3.ScaleDiverging<string> {
  const m = maxAbs > 0 ? maxAbs : 1e-9;
  return d3.scaleDiverging(d3.interpolatePuOr).domain([m, 0, -m]);
}

export type ColourScale = d3.ScaleSequential<string> | d3.ScaleDiverging<string>;

/** A colour as #rrggbb, the shortest form (d3's diverging scales give rgb()). */
export const hex = (colour: string): string => d3.color(colour)?.formatHex() ?? colour;

/** A horizontal colour legend (a gradient) with its domain written at the ends and the middle. */
export function legend(parent: Svg | Group, scale: ColourScale, x: number, y: number, width: number, label: string): void {
  const g = parent.append('g').attr('class', 'legend').attr('transform', `translate(${x},${y})`);
  const domain = scale.domain();
  const lo = Math.min(...domain);
  const hi = Math.max(...domain);
  // Unique within its SVG, and the same on every run: each SVG is a document of its own.
  const root = parent.node()!;
  const id = `legend-gradient-${(root.ownerSVGElement ?? root).querySelectorAll('linearGradient').length + 1}`;
  const gradient = g.append('linearGradient').attr('id', id);
  const stops = 16;
  for (let k = 0; k <= stops; k++) gradient.append('stop').attr('offset', k / stops).attr('stop-color', hex(scale(lo + ((hi - lo) * k) / stops)));
  g.append('rect').attr('class', 'legend-bar').attr('width', width).attr('height', 10).attr('fill', `url(#${id})`).attr('stroke', '#555').attr('stroke-width', 0.5);
  const ticks = [lo, (lo + hi) / 2, hi];
  ticks.forEach((v, k) =>
    g
      .append('text')
      .attr('x', (k * width) / 2)
      .attr('y', 22)
      .attr('text-anchor', k === 0 ? 'start' : k === 1 ? 'middle' : 'end')
      .text(short(v)),
  );
  g.append('text').attr('x', width + 8).attr('y', 9).text(label);
}

export { displayToken } from '../tokenize/display-token.js';
