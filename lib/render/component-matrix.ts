import { heatmapSvg } from './heatmap.js';
import { divergingScale, exact, sequentialScale } from './svg.js';

export interface ComponentMatrix {
  /** Component labels, in order. */
  components: string[];
  /** `[a × n + b]`: mean over queries in component a of the attention mass on component b. */
  values: Float64Array;
}

/**
 * Component structure: how much each labelled component of a concept attends to each
 * other one (rows: from, columns: to); `diverging` for a change between models.
 */
export function componentMatrixSvg(matrix: ComponentMatrix, title: string, diverging: boolean, domain: number): string {
  const n = matrix.components.length;
  return heatmapSvg({
    title,
    rows: n,
    cols: n,
    value: (a, b) => matrix.values[a * n + b]!,
    scale: diverging ? divergingScale(domain) : sequentialScale(0, domain),
    legendLabel: diverging ? 'Δ attention mass' : 'attention mass',
    xLabel: 'to component (keys)',
    yLabel: 'from component (queries)',
    rowLabels: matrix.components,
    colLabels: matrix.components,
    rotateColLabels: true,
    tooltip: (a, b, v) => `${matrix.components[a]} → ${matrix.components[b]}: ${exact(v)}`,
    missing: 'no value: the querying component has no token in this sequence',
    cell: 36,
  });
}
