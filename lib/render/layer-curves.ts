import * as d3 from 'd3';
import { canvas, exact, short } from './svg.js';

export interface LayerCurve {
  model: string;
  values: readonly number[];
}

// Okabe–Ito: distinguishable with any colour vision.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000'];
const DASHES = ['', '6,3', '2,2', '8,2,2,2'];

/** Concept share by layer, one line per model (colour and dash differ). */
export function layerCurvesSvg(curves: readonly LayerCurve[], title: string, yLabel = 'attention share (mean over heads)'): string {
  const width = 460;
  const height = 280;
  const margin = { top: 36, right: 110, bottom: 44, left: 56 };
  const { svg, done } = canvas(width, height, title);
  const layers = Math.max(1, ...curves.map((c) => c.values.length));
  const all = curves.flatMap((c) => c.values.filter(Number.isFinite));
  const x = d3.scaleLinear().domain([0, Math.max(1, layers - 1)]).range([margin.left, width - margin.right]);
  const y = d3.scaleLinear().domain([Math.min(0, ...all), Math.max(1e-9, ...all)]).nice().range([height - margin.bottom, margin.top]);
  svg.append('g').attr('transform', `translate(0,${height - margin.bottom})`).call(d3.axisBottom(x).ticks(Math.min(layers, 10)).tickFormat((v) => `L${Number(v)}`));
  svg.append('g').attr('transform', `translate(${margin.left},0)`).call(d3.axisLeft(y).ticks(5).tickFormat((v) => short(Number(v))));
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
      svg.append('circle').attr('cx', x(l)).attr('cy', y(v)).attr('r', 3).attr('fill', colour).append('title').text(`${curve.model}, layer ${l}: ${exact(v)}`);
    });
    const ly = margin.top + 8 + k * 16;
    svg.append('line').attr('x1', width - margin.right + 10).attr('x2', width - margin.right + 34).attr('y1', ly).attr('y2', ly).attr('stroke', colour).attr('stroke-width', 2).attr('stroke-dasharray', DASHES[k % DASHES.length]!);
    svg.append('text').attr('class', 'legend-label').attr('x', width - margin.right + 38).attr('y', ly + 4).text(curve.model);
  });
  svg.append('text').attr('class', 'axis-label').attr('x', (margin.left + width - margin.right) / 2).attr('y', height - 8).attr('text-anchor', 'middle').text('layer');
  svg.append('text').attr('class', 'axis-label').attr('transform', `translate(14,${(margin.top + height - margin.bottom) / 2}) rotate(-90)`).attr('text-anchor', 'middle').text(yLabel);
  return done();
}
