import { heatmapSvg } from './heatmap.js';
import { divergingScale, exact, sequentialScale } from './svg.js';

export interface HeadValues {
  /** `[layer × heads + head]`. */
  values: Float64Array;
  layers: number;
  heads: number;
}

/** What every layers × heads grid shares: its shape, values, axes and cell size. */
const gridSpec = (grid: HeadValues) => ({
  rows: grid.layers,
  cols: grid.heads,
  value: (l: number, h: number) => grid.values[l * grid.heads + h]!,
  xLabel: 'head',
  yLabel: 'layer',
  rowLabels: Array.from({ length: grid.layers }, (_, l) => `L${l}`),
  colLabels: Array.from({ length: grid.heads }, (_, h) => (grid.heads > 16 && h % 4 !== 0 ? '' : `${h}`)),
  cell: Math.max(8, Math.min(22, Math.floor(640 / grid.heads))),
});

/**
 * Head grid: layers × heads of the concept share of one model. `domain` is shared by
 * the models of one page, so their colours compare.
 */
export function headGridSvg(grid: HeadValues, title: string, domain: [number, number]): string {
  const scale = sequentialScale(domain[0], domain[1]);
  return heatmapSvg({
    ...gridSpec(grid),
    title,
    scale,
    legendLabel: 'attention share',
    tooltip: (l, h, v) => `L${l} H${h}: ${exact(v)}`,
  });
}

/**
 * Change grid: layers × heads of Δ for one model pair on a diverging scale centred on
 * zero and symmetric (±`maxAbs`); heads whose change beats chance are outlined.
 */
export function changeGridSvg(delta: HeadValues, pValue: Float64Array | undefined, alpha: number, title: string, maxAbs: number): string {
  const scale = divergingScale(maxAbs);
  return heatmapSvg({
    ...gridSpec(delta),
    title,
    scale,
    legendLabel: 'Δ share (purple: rose, orange: fell)',
    tooltip: (l, h, v) => {
      const p = pValue?.[l * delta.heads + h];
      return `L${l} H${h}: Δ ${exact(v)}${p === undefined ? '' : `, p ${exact(p)}${p < alpha ? ' *' : ''}`}`;
    },
    marked: pValue ? (l, h) => pValue[l * delta.heads + h]! < alpha : undefined,
    markLabel: pValue ? `outlined: p < ${alpha} against control spans` : 'no chance baseline (no room for control spans)',
  });
}
