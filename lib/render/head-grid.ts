import { heatmapSvg } from './heatmap.js';
import { divergingScale, exact, sequentialScale } from './svg.js';

export interface HeadValues {
  /** `[layer × heads + head]`. */
  values: Float64Array;
  layers: number;
  heads: number;
}

/** Why a head has no value. */
const NOT_MEASURED = 'not measured: no query token of the query set in any of the sequences, so no share';

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
    missing: NOT_MEASURED,
  });
}

/**
 * Change grid: layers × heads of Δ for one model pair on a diverging scale centred on
 * zero and symmetric (±`maxAbs`); heads whose change beats chance are outlined.
 */
/** Each head's p-value against chance and its Benjamini–Hochberg q over the heads. */
export interface HeadChance {
  p: Float64Array;
  q: Float64Array;
}

export function changeGridSvg(delta: HeadValues, chance: HeadChance | undefined, alpha: number, title: string, maxAbs: number): string {
  const scale = divergingScale(maxAbs);
  const at = (l: number, h: number): number => l * delta.heads + h;
  return heatmapSvg({
    ...gridSpec(delta),
    title,
    scale,
    legendLabel: 'Δ share (purple: rose, orange: fell)',
    tooltip: (l, h, v) => {
      if (!chance) return `L${l} H${h}: Δ ${exact(v)}`;
      const [p, q] = [chance.p[at(l, h)]!, chance.q[at(l, h)]!];
      if (!Number.isFinite(p)) return `L${l} H${h}: Δ ${exact(v)}, p not defined (this head had no chance test: too few comparable words measured)`;
      return `L${l} H${h}: Δ ${exact(v)}, p ${exact(p)}, q ${exact(q)}${q < alpha ? ' *' : ''}`;
    },
    missing: NOT_MEASURED,
    marked: chance ? (l, h) => chance.q[at(l, h)]! < alpha : undefined,
    markLabel: chance ? `outlined: q < ${alpha} (Benjamini–Hochberg over the heads) against comparable words` : 'no chance baseline (too few comparable words)',
  });
}
