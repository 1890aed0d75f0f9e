import * as d3 from 'd3';
import { canvas, exact, short } from './svg.js';
import { textWidth } from './text-width.js';

export interface LayerCurve {
  model: string;
  values: readonly number[];
  /** Points to ring, e.g. the layers whose change beats chance. */
  marked?: readonly boolean[];
}

/** How the x axis names its layers, and what else the chart draws beside the curves. */
export interface LayerAxis {
  /** Title of the x axis (default: layer). */
  title?: string;
  /** Name of layer l on a tick (default L0, L1 …) and in a tooltip (default layer 0 …). */
  tick?: (l: number) => string;
  point?: (l: number) => string;
  /** Horizontal reference lines, e.g. a probe's chance level. */
  references?: ReadonlyArray<{ label: string; value: number }>;
  /** Legend entry of the ringed points. */
  markLabel?: string;
}

// Okabe–Ito: distinguishable with any colour vision.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const DASHES = ['', '6,3', '2,2', '8,2,2,2'];

/** Concept share by layer, one line per model (colour and dash differ). */
export function layerCurvesSvg(curves: readonly LayerCurve[], title: string, yLabel = 'attention share (mean over heads)', axis: LayerAxis = {}): string {
  // The legend at the right is as wide as its longest entry (model names, the mark label), measured.
  const legendText = Math.max(0, ...[...curves.map((c) => c.model), axis.markLabel ?? ''].map((label) => textWidth(label, 11)));
  const margin = { top: 36, right: Math.max(110, 38 + legendText + 8), bottom: 44, left: 56 };
  const width = Math.ceil(Math.max(350 + margin.right, 8 + textWidth(title, 13, true) + 8));
  const height = 280;
  const { svg, done } = canvas(width, height, title);
  const tick = axis.tick ?? ((l: number) => `L${l}`);
  const point = axis.point ?? ((l: number) => `layer ${l}`);
  const references = axis.references?.filter((r) => Number.isFinite(r.value)) ?? [];
  const layers = Math.max(1, ...curves.map((c) => c.values.length));
  const all = [...curves.flatMap((c) => c.values.filter(Number.isFinite)), ...references.map((r) => r.value)];
  const x = d3.scaleLinear().domain([0, Math.max(1, layers - 1)]).range([margin.left, width - margin.right]);
  const y = d3.scaleLinear().domain([Math.min(0, ...all), Math.max(1e-9, ...all)]).nice().range([height - margin.bottom, margin.top]);
  // Whole layers only: there is no layer 0.5.
  const ticks = x.ticks(Math.min(layers, 10)).filter(Number.isInteger);
  svg.append('g').attr('transform', `translate(0,${height - margin.bottom})`).call(d3.axisBottom(x).tickValues(ticks).tickFormat((v) => tick(Number(v))));
  svg.append('g').attr('transform', `translate(${margin.left},0)`).call(d3.axisLeft(y).ticks(5).tickFormat((v) => short(Number(v))));
  for (const r of references) {
    const g = svg.append('g').attr('class', 'reference');
    g.append('line').attr('x1', margin.left).attr('x2', width - margin.right).attr('y1', y(r.value)).attr('y2', y(r.value)).attr('stroke', '#888').attr('stroke-dasharray', '3,3').append('title').text(`${r.label}: ${exact(r.value)}`);
    g.append('text').attr('x', width - margin.right - 4).attr('y', y(r.value) - 4).attr('text-anchor', 'end').attr('fill', '#555').text(r.label);
  }
  curves.forEach((curve, k) => {
    const line = d3
      .line<number>()
      .defined(Number.isFinite)
      .x((_, l) => x(l))
      .y((v) => y(v));
    const colour = PALETTE[k % PALETTE.length]!;
    svg.append('path').attr('class', 'curve').attr('d', line(curve.values as number[])).attr('fill', 'none').attr('stroke', colour).attr('stroke-width', 2).attr('stroke-dasharray', DASHES[k % DASHES.length]!);
    curve.values.forEach((v, l) => {
      if (!Number.isFinite(v)) return;
      if (curve.marked?.[l]) svg.append('circle').attr('class', 'marked').attr('cx', x(l)).attr('cy', y(v)).attr('r', 6).attr('fill', 'none').attr('stroke', '#000').attr('stroke-width', 1.5);
      svg.append('circle').attr('cx', x(l)).attr('cy', y(v)).attr('r', 3).attr('fill', colour).append('title').text(`${curve.model}, ${point(l)}: ${exact(v)}${curve.marked?.[l] && axis.markLabel ? ` (${axis.markLabel})` : ''}`);
    });
    const ly = margin.top + 8 + k * 16;
    svg.append('line').attr('x1', width - margin.right + 10).attr('x2', width - margin.right + 34).attr('y1', ly).attr('y2', ly).attr('stroke', colour).attr('stroke-width', 2).attr('stroke-dasharray', DASHES[k % DASHES.length]!);
    svg.append('text').attr('class', 'legend-label').attr('x', width - margin.right + 38).attr('y', ly + 4).text(curve.model);
  });
  if (axis.markLabel && curves.some((c) => c.marked?.some(Boolean))) {
    const ly = margin.top + 8 + curves.length * 16;
    svg.append('circle').attr('cx', width - margin.right + 22).attr('cy', ly).attr('r', 6).attr('fill', 'none').attr('stroke', '#000').attr('stroke-width', 1.5);
    svg.append('text').attr('class', 'legend-label').attr('x', width - margin.right + 38).attr('y', ly + 4).text(axis.markLabel);
  }
  svg.append('text').attr('class', 'axis-label').attr('x', (margin.left + width - margin.right) / 2).attr('y', height - 8).attr('text-anchor', 'middle').text(axis.title ?? 'layer');
  svg.append('text').attr('class', 'axis-label').attr('transform', `translate(14,${(margin.top + height - margin.bottom) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text(yLabel);
  return done();
}
