import { heatmapSvg } from './heatmap.js';
import { divergingScale, exact, sequentialScale } from './svg.js';

export interface HeadValues {
  /** `[layer × heads + head]`. */
  values: Float64Array;
  layers: number;
  heads: number;
}

const cellFor = (heads: number): number => Math.max(8, Math.min(22, Math.floor(640 / heads)));
const layerLabels = (layers: number): string[] => Array.from({ length: layers }, (_, l) => `L${l}`);
const headLabels = (heads: number): string[] => Array.from({ length: heads }, (_, h) => (heads > 16 && h % 4 !== 0 ? '' : `${h}`));

/**
 * Head grid: layers × heads of the concept share of one model. `domain` is shared by
 * the models of one page, so their colours compare.
 */
export function headGridSvg(grid: HeadValues, title: string, domain: [number, number]): string {
  const scale = sequentialScale(domain[0], domain[1]);
  return heatmapSvg({
    title,
    rows: grid.layers,
    cols: grid.heads,
    value: (l, h) => grid.values[l * grid.heads + h]!,
    scale,
    legendLabel: 'attention share',
    xLabel: 'head',
    yLabel: 'layer',
    rowLabels: layerLabels(grid.layers),
    colLabels: headLabels(grid.heads),
    tooltip: (l, h, v) => `layer ${l}, head ${h}: share ${exact(v)}`,
    cell: cellFor(grid.heads),
  });
}

/**
 * Change grid: layers × heads of Δ for one model pair on a diverging scale centred on
 * zero and symmetric (±`maxAbs`); heads whose change beats chance are outlined.
 */
export function changeGridSvg(delta: HeadValues, pValue: Float64Array | undefined, alpha: number, title: string, maxAbs: number): string {
  const scale = divergingScale(maxAbs);
  return heatmapSvg({
    title,
    rows: delta.layers,
    cols: delta.heads,
    value: (l, h) => delta.values[l * delta.heads + h]!,
    scale,
    legendLabel: 'Δ share (purple: rose, orange: fell)',
    xLabel: 'head',
    yLabel: 'layer',
    rowLabels: layerLabels(delta.layers),
    colLabels: headLabels(delta.heads),
    tooltip: (l, h, v) => {
      const p = pValue?.[l * delta.heads + h];
      return `layer ${l}, head ${h}: Δ ${exact(v)}${p === undefined ? '' : `, p = ${exact(p)}${p < alpha ? ' (beats chance)' : ''}`}`;
    },
    marked: pValue ? (l, h) => pValue[l * delta.heads + h]! < alpha : undefined,
    markLabel: pValue ? `outlined: p < ${alpha} against control spans` : 'no chance baseline (no room for control spans)',
    cell: cellFor(delta.heads),
  });
}
