/** Longest side of a map drawn (and, for long texts, kept) cell by cell; longer texts are pooled into cells of b × b tokens. */
export const MAX_MAP_CELLS = 96;

/** Runs whose texts are at most this many tokens keep their head-averaged maps whole (64 MiB a layer at this length); longer ones pooled. */
export const FULL_MAP_TOKENS = 4096;

/** Cells of `block` tokens a side, `size` of them, so that a T-token map is at most `maxCells` cells a side. */
export interface MapCells {
  block: number;
  size: number;
}

export function mapCells(T: number, maxCells = MAX_MAP_CELLS): MapCells {
  const block = Math.max(1, Math.ceil(T / maxCells));
  return { block, size: Math.ceil(T / block) };
}

/** `[width × columns]` 0/1, row-major: key j (j < T) in key cell c. A head-averaged map times it gives each row's sum over every cell of keys. */
export function keyCellMatrix(T: number, cells: MapCells, width = T, columns = cells.size): Float32Array {
  const matrix = new Float32Array(width * columns);
  for (let j = 0; j < T; j++) matrix[j * columns + Math.floor(j / cells.block)] = 1;
  return matrix;
}

/**
 * The `[size × size]` pooled map from each query row's sums over the cells of keys
 * (`rowSums`, row-major `[T × columns]`): cell (r, c) is the mean of its block of the
 * T × T map, as the report draws it.
 */
export function poolQueryRows(rowSums: Float32Array, T: number, cells: MapCells, columns = cells.size): Float32Array {
  const { block, size } = cells;
  const pooled = new Float32Array(size * size);
  for (let r = 0; r < size; r++) {
    const rows = Math.min(T, (r + 1) * block) - r * block;
    for (let c = 0; c < size; c++) {
      let sum = 0;
      for (let i = r * block; i < r * block + rows; i++) sum += rowSums[i * columns + c]!;
      pooled[r * size + c] = sum / (rows * (Math.min(T, (c + 1) * block) - c * block));
    }
  }
  return pooled;
}
