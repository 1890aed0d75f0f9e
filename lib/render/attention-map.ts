import { heatmapSvg } from './heatmap.js';
import { displayToken, divergingScale, exact, sequentialScale } from './svg.js';

export interface TokenMap {
  /** `T × T`, row = query, column = key. */
  map: Float32Array;
  tokens: readonly string[];
  concept: readonly number[];
}

/** Longest side drawn cell by cell; longer sequences are pooled into blocks. */
export const MAX_MAP_CELLS = 96;

interface Pooled {
  size: number;
  block: number;
  value: Float64Array;
  labels: string[];
  concept: Set<number>;
}

/** Averages b×b blocks so a long sequence stays readable (and the file small). */
export function poolMap(input: TokenMap, maxCells = MAX_MAP_CELLS): Pooled {
  const T = input.tokens.length;
  const block = Math.max(1, Math.ceil(T / maxCells));
  const size = Math.ceil(T / block);
  const value = new Float64Array(size * size);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c <= r; c++) {
      let sum = 0;
      let n = 0;
      for (let i = r * block; i < Math.min(T, (r + 1) * block); i++) {
        for (let j = c * block; j < Math.min(T, (c + 1) * block); j++) {
          sum += input.map[i * T + j]!;
          n++;
        }
      }
      value[r * size + c] = sum / n;
    }
  }
  const labels = Array.from({ length: size }, (_, r) => {
    const first = displayToken(input.tokens[r * block] ?? '');
    return block === 1 ? first : `${r * block}: ${first}…`;
  });
  const concept = new Set(input.concept.map((t) => Math.floor(t / block)));
  return { size, block, value, labels, concept };
}

function mapSvg(input: TokenMap, title: string, diverging: boolean, legendLabel: string): string {
  const pooled = poolMap(input);
  const T = input.tokens.length;
  const values = Array.from(pooled.value).filter((_, k) => k % pooled.size <= Math.floor(k / pooled.size));
  const scale = diverging ? divergingScale(Math.max(1e-9, ...values.map(Math.abs))) : sequentialScale(0, Math.max(1e-9, ...values));
  const cell = Math.max(5, Math.min(14, Math.floor(720 / pooled.size)));
  return heatmapSvg({
    title,
    rows: pooled.size,
    cols: pooled.size,
    value: (r, c) => pooled.value[r * pooled.size + c]!,
    drawn: (r, c) => c <= r,
    scale,
    legendLabel,
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
        ? `${r}→${c}: ${exact(v)}`
        : `${r * pooled.block}–${Math.min(T, (r + 1) * pooled.block) - 1} → ${c * pooled.block}–${Math.min(T, (c + 1) * pooled.block) - 1}: mean ${exact(v)}`,
    cell,
    note:
      pooled.block === 1
        ? 'concept tokens in bold orange on both axes; above the diagonal is masked (causal); tooltips: query→key index'
        : `${T} tokens pooled into ${pooled.size}×${pooled.size} cells: each cell is the mean of a ${pooled.block}×${pooled.block} block; concept blocks in bold orange`,
  });
}

/** Attention map of one layer (head-averaged or one head). */
export const attentionMapSvg = (input: TokenMap, title: string): string => mapSvg(input, title, false, 'attention');

/** Difference map A_after − A_before on a diverging scale centred on zero. */
export const differenceMapSvg = (input: TokenMap, title: string): string => mapSvg(input, title, true, 'Δ attention (purple: more, orange: less)');
