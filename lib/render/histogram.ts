import * as d3 from 'd3';
import { skewnessUndefined, type Distribution } from '../measure/distribution.js';
import { canvas, exact, short } from './svg.js';
import { textWidth } from './text-width.js';

export interface PairDistribution {
  pair: string;
  values: Float64Array;
  distribution: Distribution;
}

/** Histograms of the per-head changes of each pair, side by side on one Δ axis, statistics written on each. */
export function distributionSvg(pairs: readonly PairDistribution[], title: string): string {
  const panelWidth = 250;
  const panelHeight = 150;
  const top = 40;
  const stats = pairs.map((p) => statLines(p.distribution));
  // A panel is as wide as its longest line of statistics, measured, so none runs into the next.
  const stride = Math.max(panelWidth + 30, ...stats.flat().map((line) => textWidth(line, 11) + 20));
  const width = Math.ceil(Math.max(16 + 40 + (pairs.length - 1) * stride + Math.max(panelWidth, ...stats.flat().map((line) => textWidth(line, 11))) + 8, 8 + textWidth(title, 13, true) + 8));
  const height = top + panelHeight + 110;
  const { svg, done } = canvas(width, height, title);
  const all = pairs.flatMap((p) => Array.from(p.values).filter(Number.isFinite));
  const extent = Math.max(1e-9, ...all.map(Math.abs));
  const x = d3.scaleLinear().domain([-extent, extent]).nice().range([0, panelWidth]);
  const bin = d3.bin().domain(x.domain() as [number, number]).thresholds(x.ticks(24));
  const binned = pairs.map((p) => bin(Array.from(p.values).filter(Number.isFinite)));
  const y = d3.scaleLinear().domain([0, Math.max(1, ...binned.flat().map((b) => b.length))]).nice().range([panelHeight, 0]);

  pairs.forEach((p, k) => {
    const g = svg.append('g').attr('class', 'panel').attr('transform', `translate(${40 + k * stride},${top})`);
    g.append('text').attr('x', panelWidth / 2).attr('y', -6).attr('text-anchor', 'middle').attr('font-weight', 600).text(p.pair);
    for (const b of binned[k]!) {
      const x0 = x(b.x0 ?? 0);
      const x1 = x(b.x1 ?? 0);
      g.append('rect')
        .attr('class', 'bar')
        .attr('x', x0 + 0.5)
        .attr('y', y(b.length))
        .attr('width', Math.max(0, x1 - x0 - 1))
        .attr('height', panelHeight - y(b.length))
        .attr('fill', (b.x0 ?? 0) >= 0 ? '#8073ac' : '#e08214')
        .append('title')
        .text(`Δ in [${exact(b.x0 ?? 0)}, ${exact(b.x1 ?? 0)}): ${b.length} heads`);
    }
    g.append('line').attr('x1', x(0)).attr('x2', x(0)).attr('y1', 0).attr('y2', panelHeight).attr('stroke', '#333').attr('stroke-dasharray', '2,2');
    const d = p.distribution;
    g.append('line').attr('class', 'mean').attr('x1', x(d.mean)).attr('x2', x(d.mean)).attr('y1', 0).attr('y2', panelHeight).attr('stroke', '#000').attr('stroke-width', 1.5);
    g.append('g').attr('transform', `translate(0,${panelHeight})`).call(d3.axisBottom(x).ticks(4).tickFormat((v) => short(Number(v))));
    g.append('g').call(d3.axisLeft(y).ticks(4));
    g.append('text').attr('x', panelWidth / 2).attr('y', panelHeight + 32).attr('text-anchor', 'middle').text('Δ attention share per head');
    stats[k]!.forEach((line, i) => g.append('text').attr('class', 'stat').attr('x', 0).attr('y', panelHeight + 50 + i * 13).text(line));
  });
  svg.append('text').attr('transform', `translate(12,${top + panelHeight / 2}) rotate(-90)`).attr('text-anchor', 'middle').text('heads');
  return done();
}

/** The statistics written under a panel; a statistic the heads cannot define says why. */
function statLines(d: Distribution): string[] {
  return [
    `n ${d.n} heads, ${Math.round(100 * d.fractionRose)}% rose`,
    `mean ${short(d.mean)}, median ${short(d.median)}`,
    Number.isFinite(d.skewness) ? `skewness g1 ${short(d.skewness)} (G1 ${short(d.skewnessAdjusted)})` : `skewness not defined (${skewnessUndefined(d.n)})`,
    Number.isFinite(d.kurtosis) ? `excess kurtosis g2 ${short(d.kurtosis)} (G2 ${short(d.kurtosisAdjusted)})` : `excess kurtosis not defined (${d.n < 4 ? `${d.n} head${d.n === 1 ? '' : 's'}; it needs 4 or more` : 'no spread'})`,
  ];
}
