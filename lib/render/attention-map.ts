import { heatmapSvg } from './heatmap.js';
import { mapCells, MAX_MAP_CELLS } from '../measure/map-cells.js';
import { displayToken, divergingScale, greyScale, sequentialScale } from './svg.js';

export interface TokenMap {
  /** `T × T`, row = query, column = key; or `size × size` cells where `cellTokens` is given. */
  map: Float32Array;
  tokens: readonly string[];
  concept: readonly number[];
  /** Tokens a side of each cell, where the map was kept pooled (long texts: see `map-cells.ts`). */
  cellTokens?: number;
}

/** Colour levels of a token map: finer than the eye tells apart, far fewer bytes than a fill per cell. */
export const MAP_PALETTE_LEVELS = 128;

export { MAX_MAP_CELLS };

interface Pooled {
  size: number;
  block: number;
  value: Float64Array;
  labels: string[];
  concept: Set<number>;
}

/** Averages b×b blocks so a long sequence stays readable (and the file small); a map kept pooled is taken as it is. */
export function poolMap(input: TokenMap, maxCells = MAX_MAP_CELLS): Pooled {
  const T = input.tokens.length;
  const { block, size } = input.cellTokens ? { block: input.cellTokens, size: Math.round(Math.sqrt(input.map.length)) } : mapCells(T, maxCells);
  const value = input.cellTokens ? Float64Array.from(input.map) : pooledValues(input.map, T, block, size);
  const labels = Array.from({ length: size }, (_, r) => {
    const first = displayToken(input.tokens[r * block] ?? '');
    return block === 1 ? first : `${r * block}: ${first}…`;
  });
  const concept = new Set(input.concept.map((t) => Math.floor(t / block)));
  return { size, block, value, labels, concept };
}

/** The mean of each b×b block of a T × T map, on and below the diagonal of blocks. */
function pooledValues(map: Float32Array, T: number, block: number, size: number): Float64Array {
  const value = new Float64Array(size * size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c <= r; c++) {
      let sum = 0;
      let n = 0;
      for (let i = r * block; i < Math.min(T, (r + 1) * block); i++) {
        for (let j = c * block; j < Math.min(T, (c + 1) * block); j++) {
          sum += map[i * T + j]!;
          n++;
        }
      }
      value[r * size + c] = sum / n;
    }
  }
  return value;
}

/**
 * A cell's value in its tooltip: four significant digits, what a reader of a map can
 * use (the exact values are in the .npy files); token maps are most of a report's bytes.
 */
const tooltipValue = (v: number): string => (Number.isFinite(v) ? String(Number(v.toPrecision(4))) : 'n/a');

/** Whether the k-th drawn cell (row by row, causal) is in key column 0: the first cell of each row. */
const isSinkCell = (k: number): boolean => {
  const row = Math.floor((Math.sqrt(8 * k + 1) - 1) / 2);
  return k === (row * (row + 1)) / 2;
};

/** The drawn (causal) cells of a pooled map. */
const drawnValues = (pooled: Pooled): number[] => Array.from(pooled.value).filter((_, k) => k % pooled.size <= Math.floor(k / pooled.size));

/** The largest |value| a difference map draws: maps that share a colour scale take the largest of theirs. */
export const differenceExtent = (input: TokenMap): number => Math.max(1e-9, ...drawnValues(poolMap(input)).map(Math.abs));

function mapSvg(input: TokenMap, title: string, diverging: boolean, legendLabel: string, sharedExtent?: number): string {
  const pooled = poolMap(input);
  const T = input.tokens.length;
  const values = drawnValues(pooled);
  // The sink (key 0) takes most of every row's mass: on an attention map it gets a scale of its own, or it would be the only bright cell.
  const sink = diverging ? [] : values.filter((_, k) => isSinkCell(k));
  const rest = diverging ? values : values.filter((_, k) => !isSinkCell(k));
  const scale = diverging ? divergingScale(sharedExtent ?? Math.max(1e-9, ...values.map(Math.abs))) : sequentialScale(0, Math.max(1e-9, ...rest));
  const sinkName = pooled.block === 1 ? `key 0 (${pooled.labels[0]}, the attention sink)` : `key cell 0 (tokens 0–${pooled.block - 1}, holding the sink)`;
  const apart = diverging ? undefined : { cells: (_r: number, c: number) => c === 0, scale: greyScale(0, Math.max(1e-9, ...sink)), label: `${sinkName}: greys, its own scale` };
  const label = apart ? `${legendLabel}, every key but the sink column` : legendLabel;
  const cell = Math.max(5, Math.min(14, Math.floor(720 / pooled.size)));
  return heatmapSvg({
    title,
    rows: pooled.size,
    cols: pooled.size,
    value: (r, c) => pooled.value[r * pooled.size + c]!,
    drawn: (r, c) => c <= r,
    scale,
    // On a shared scale, the legend also says where this map's own values lie.
    legendLabel: sharedExtent === undefined ? label : `${label}; this map ${tooltipValue(Math.min(...values))} to ${tooltipValue(Math.max(...values))}`,
    xLabel: 'key token (attended to)',
    yLabel: 'query token',
    rowLabels: pooled.labels,
    colLabels: pooled.labels,
    rotateColLabels: true,
    highlightRows: pooled.concept,
    highlightCols: pooled.concept,
    // Token strings are on the axes; the tooltip names the cell by index to stay small.
    tooltip: (r, c, v) =>
      pooled.block === 1
        ? `${r}→${c}: ${tooltipValue(v)}`
        : `${r * pooled.block}–${Math.min(T, (r + 1) * pooled.block) - 1} → ${c * pooled.block}–${Math.min(T, (c + 1) * pooled.block) - 1}: mean ${tooltipValue(v)}`,
    missing: 'no value: not measured',
    ...(apart ? { apart } : {}),
    cell,
    paletteLevels: MAP_PALETTE_LEVELS,
    note:
      pooled.block === 1
        ? 'concept tokens underlined in bold on both axes; above the diagonal is masked (causal); tooltips: query→key index'
        : `${T} tokens pooled into ${pooled.size}×${pooled.size} cells: each cell is the mean of a ${pooled.block}×${pooled.block} block; concept blocks underlined in bold`,
  });
}

/** Attention map of one layer (head-averaged or one head). */
export const attentionMapSvg = (input: TokenMap, title: string): string => mapSvg(input, title, false, 'attention');

/**
 * Difference map A_after − A_before on a diverging scale centred on zero, reaching
 * ±`sharedExtent` where several maps must be read on one scale (the pairs of a concept).
 */
export const differenceMapSvg = (input: TokenMap, title: string, sharedExtent?: number): string => mapSvg(input, title, true, 'Δ attention (purple: more, orange: less)', sharedExtent);
