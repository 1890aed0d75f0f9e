import { heatmapSvg } from './heatmap.js';
import { exact, sequentialScale } from './svg.js';

export interface CkaMatrix {
  after: string;
  before: string;
  /** `[after's state i][before's state j]`; null where a state had no spread. */
  values: ReadonlyArray<ReadonlyArray<number | null>>;
}

/**
 * Linear CKA of a pair, state layer × state layer (rows: after, columns: before), on
 * one fixed scale [0, 1] so that pairs and row sets compare: a bright diagonal is a
 * depth whose geometry stayed as it was.
 */
export function ckaMatrixSvg(matrix: CkaMatrix, title: string): string {
  const n = matrix.values.length;
  const labels = Array.from({ length: n }, (_, l) => (n > 20 && l % 4 !== 0 && l !== n - 1 ? '' : `${l}`));
  return heatmapSvg({
    title,
    rows: n,
    cols: n,
    value: (i, j) => matrix.values[i]?.[j] ?? Number.NaN,
    scale: sequentialScale(0, 1),
    legendLabel: 'linear CKA',
    xLabel: `${matrix.before}: state layer`,
    yLabel: `${matrix.after}: state layer`,
    rowLabels: labels,
    colLabels: labels,
    tooltip: (i, j, v) => `${matrix.after} state ${i} × ${matrix.before} state ${j}: CKA ${exact(v)}`,
    missing: 'CKA not defined: one of the two states has no spread over these rows',
    cell: Math.max(8, Math.min(32, Math.floor(320 / Math.max(1, n)))),
    note: `state 0: the embeddings; ${n - 1}: after the last layer`,
  });
}
