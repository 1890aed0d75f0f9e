import { canvas, hex, legend, type ColourScale } from './svg.js';
import { textWidth } from './text-width.js';
import { clipLabel, labelGap, thinLabels, TICK_FONT } from './tick-labels.js';

export interface HeatmapSpec {
  title: string;
  rows: number;
  cols: number;
  value: (row: number, col: number) => number;
  /** Cells to draw (all by default): a causal map draws only col ≤ row. */
  drawn?: (row: number, col: number) => boolean;
  scale: ColourScale;
  legendLabel: string;
  xLabel: string;
  yLabel: string;
  rowLabels: string[];
  colLabels: string[];
  tooltip: (row: number, col: number, value: number) => string;
  /** Why a cell has no value (drawn grey, n/a): said in its tooltip. */
  missing: string | ((row: number, col: number) => string);
  /**
   * Cells drawn on a scale of their own, left out of the main one (the attention sink,
   * which would take the whole scale), with their legend's label.
   */
  apart?: { cells: (row: number, col: number) => boolean; scale: ColourScale; label: string };
  /** Cells to outline (heads that beat chance). */
  marked?: (row: number, col: number) => boolean;
  markLabel?: string;
  /** Rows and columns to highlight on the axes (concept tokens). */
  highlightRows?: ReadonlySet<number>;
  highlightCols?: ReadonlySet<number>;
  cell: number;
  /** Rotate column labels (token strings). */
  rotateColLabels?: boolean;
  note?: string;
  /**
   * Colour cells by class from a palette of this many evenly spaced levels instead of
   * one fill each: for token maps, whose thousands of cells are most of a report's bytes.
   */
  paletteLevels?: number;
}

/** The palette level of a value on the scale's domain, 0 … levels − 1. */
function paletteLevel(scale: ColourScale, levels: number, v: number): number {
  const domain = scale.domain();
  const [lo, hi] = [Math.min(...domain), Math.max(...domain)];
  return Math.round(((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo || 1)) * (levels - 1));
}

const paletteColour = (scale: ColourScale, levels: number, level: number): string => {
  const domain = scale.domain();
  const [lo, hi] = [Math.min(...domain), Math.max(...domain)];
  return hex(scale(lo + ((hi - lo) * level) / (levels - 1)));
};

/** A labelled heatmap; every cell carries a `<title>` with its exact value. */
export function heatmapSvg(spec: HeatmapSpec): string {
  // Tick labels at a readable size, thinned to those that fit, concept tokens first.
  const rowLabels = spec.rowLabels.map(clipLabel);
  const colLabels = spec.colLabels.map(clipLabel);
  const rowShown = thinLabels(rowLabels, spec.cell, labelGap(rowLabels, 'rows'), spec.highlightRows);
  const colShown = thinLabels(colLabels, spec.cell, labelGap(colLabels, spec.rotateColLabels ? 'rotated' : 'columns'), spec.highlightCols);
  const widest = (labels: string[], shown: boolean[], bold?: ReadonlySet<number>): number => Math.max(12, ...labels.map((l, k) => (shown[k] ? textWidth(l, TICK_FONT, bold?.has(k)) : 0)));
  const labelWidth = widest(rowLabels, rowShown, spec.highlightRows) + 8;
  const colLabelHeight = spec.rotateColLabels ? Math.ceil(widest(colLabels, colShown, spec.highlightCols) * Math.sin(Math.PI / 3)) + 12 : 18;
  const left = labelWidth + 24;
  const top = 34;
  const gridWidth = spec.cols * spec.cell;
  const gridHeight = spec.rows * spec.cell;
  const legendWidth = Math.min(200, Math.max(120, gridWidth));
  const legendHeight = 36;
  const legends = spec.apart ? 2 : 1;
  // Wide enough for the grid, each legend, the title, the mark label and the note, measured: none clipped.
  const width = Math.ceil(
    Math.max(
      left + gridWidth + 20,
      ...[spec.legendLabel, spec.apart?.label ?? ''].map((label) => left + legendWidth + 8 + textWidth(label, 11) + 8),
      left + textWidth(spec.markLabel ?? '', 11) + 8,
      8 + textWidth(spec.title, 13, true) + 8,
      8 + textWidth(spec.note ?? '', 11) + 8,
      380,
    ),
  );
  const height = top + gridHeight + colLabelHeight + 34 + legends * legendHeight + (spec.markLabel ? 16 : 0) + (spec.note ? 16 : 0);
  const { svg, done } = canvas(width, height, spec.title);

  // Cells carry only x, fill and their tooltip; rows are groups and the cell size is one
  // CSS rule, which keeps maps of long sequences a fraction of the size.
  const style = svg.append('style').text(`.cells g rect { width: ${spec.cell}px; height: ${spec.cell}px; } .cells rect.marked { stroke: #000; stroke-width: ${Math.max(1, spec.cell / 8)}px; }`);
  const levelsUsed = new Set<number>();
  const grid = svg.append('g').attr('class', 'cells').attr('transform', `translate(${left},${top})`);
  for (let r = 0; r < spec.rows; r++) {
    const row = grid.append('g').attr('transform', `translate(0,${r * spec.cell})`);
    for (let c = 0; c < spec.cols; c++) {
      if (spec.drawn && !spec.drawn(r, c)) continue;
      const v = spec.value(r, c);
      const rect = row.append('rect').attr('x', c * spec.cell);
      if (!Number.isFinite(v)) rect.attr('fill', '#ddd').attr('class', 'na');
      else if (spec.apart?.cells(r, c)) rect.attr('fill', hex(spec.apart.scale(v))).attr('class', 'apart');
      else if (!spec.paletteLevels) rect.attr('fill', hex(spec.scale(v)));
      else {
        const level = paletteLevel(spec.scale, spec.paletteLevels, v);
        levelsUsed.add(level);
        rect.attr('class', `p${level}`);
      }
      if (spec.marked?.(r, c)) rect.attr('class', 'marked');
      const why = Number.isFinite(v) ? '' : ` (${typeof spec.missing === 'string' ? spec.missing : spec.missing(r, c)})`;
      rect.append('title').text(`${spec.tooltip(r, c, v)}${why}`);
    }
  }
  if (spec.paletteLevels) {
    const levels = spec.paletteLevels;
    style.text(`${style.text()} ${[...levelsUsed].sort((a, b) => a - b).map((k) => `.p${k}{fill:${paletteColour(spec.scale, levels, k)}}`).join('')}`);
  }
  grid.append('rect').attr('width', gridWidth).attr('height', gridHeight).attr('fill', 'none').attr('stroke', '#888').attr('stroke-width', 0.5);

  const rows = svg.append('g').attr('class', 'row-labels').attr('transform', `translate(${left - 4},${top})`).attr('font-size', TICK_FONT);
  rowLabels.forEach((label, r) => {
    if (!rowShown[r]) return;
    rows
      .append('text')
      .attr('x', 0)
      .attr('y', r * spec.cell + spec.cell / 2)
      .attr('dy', '0.35em')
      .attr('text-anchor', 'end')
      .attr('font-weight', spec.highlightRows?.has(r) ? 700 : 400)
      .attr('text-decoration', spec.highlightRows?.has(r) ? 'underline' : null)
      .attr('fill', '#222')
      .text(label);
  });
  const cols = svg.append('g').attr('class', 'col-labels').attr('transform', `translate(${left},${top + gridHeight + 4})`).attr('font-size', TICK_FONT);
  colLabels.forEach((label, c) => {
    if (!colShown[c]) return;
    const x = c * spec.cell + spec.cell / 2;
    const text = cols
      .append('text')
      .attr('font-weight', spec.highlightCols?.has(c) ? 700 : 400)
      .attr('text-decoration', spec.highlightCols?.has(c) ? 'underline' : null)
      .attr('fill', '#222')
      .text(label);
    if (spec.rotateColLabels) text.attr('transform', `translate(${x},0) rotate(-60)`).attr('text-anchor', 'end').attr('dy', '0.35em');
    else text.attr('x', x).attr('y', 10).attr('text-anchor', 'middle');
  });
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('x', left + gridWidth / 2)
    .attr('y', top + gridHeight + colLabelHeight + 16)
    .attr('text-anchor', 'middle')
    .text(spec.xLabel);
  svg
    .append('text')
    .attr('class', 'axis-label')
    .attr('transform', `translate(12,${top + gridHeight / 2}) rotate(-90)`)
    .attr('text-anchor', 'middle')
    .text(spec.yLabel);
  const legendY = top + gridHeight + colLabelHeight + 28;
  legend(svg, spec.scale, left, legendY, legendWidth, spec.legendLabel);
  if (spec.apart) legend(svg, spec.apart.scale, left, legendY + legendHeight, legendWidth, spec.apart.label);
  if (spec.markLabel) svg.append('text').attr('class', 'mark-label').attr('x', left).attr('y', legendY + legends * legendHeight).text(spec.markLabel);
  if (spec.note) svg.append('text').attr('class', 'note').attr('x', 8).attr('y', height - 6).attr('fill', '#555').text(spec.note);
  return done();
}

