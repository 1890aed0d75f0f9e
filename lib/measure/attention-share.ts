/**
 * How the first key token (`<s>`, the attention sink that takes most of the mass in
 * Mistral-style models) is treated: `include` as it is; `exclude` renormalises each
 * row without it, A'[i][j] = A[i][j] / (1 − A[i][0]) for j ≥ 1, and drops query 0,
 * whose only key is the sink.
 */
export type SinkMode = 'include' | 'exclude';
export const SINK_MODES: readonly SinkMode[] = ['include', 'exclude'];

/** One query row seen through three masses: on the key set, on every key, on the sink. */
export interface RowMasses {
  onSet(i: number): number;
  total(i: number): number;
  sink(i: number): number;
}

/**
 * Attention share over the query tokens Q from per-row masses, the definition both the
 * full maps and the in-graph reductions go through: s = Σ_{i∈Q} onSet / Σ_{i∈Q} total,
 * or with the sink excluded, the mean over Q \ {0} of (onSet − sink if the set holds
 * token 0) / (total − sink). NaN when no query remains.
 */
export function shareOfRows(rows: RowMasses, queries: readonly number[], setHasSink: boolean, sink: SinkMode): number {
  let onSet = 0;
  let total = 0;
  for (const i of queries) {
    const rowTotal = rows.total(i);
    let rowSet = rows.onSet(i);
    if (sink === 'exclude') {
      const kept = rowTotal - rows.sink(i);
      if (i === 0 || kept <= 0) continue;
      if (setHasSink) rowSet -= rows.sink(i);
      onSet += rowSet / kept;
      total += 1;
    } else {
      onSet += rowSet;
      total += rowTotal;
    }
  }
  return total > 0 ? onSet / total : Number.NaN;
}

/**
 * Attention share of one head's map A (T×T, row-major) on the key tokens C over the
 * query tokens Q: s = (Σ_{i∈Q} Σ_{j∈C} A[i][j]) / (Σ_{i∈Q} Σ_j A[i][j]).
 * NaN when no query remains.
 */
export function attentionShare(map: Float32Array, tokens: number, concept: readonly number[], queries: readonly number[], sink: SinkMode = 'include'): number {
  const rows: RowMasses = {
    onSet: (i) => concept.reduce((acc, j) => acc + map[i * tokens + j]!, 0),
    total: (i) => map.subarray(i * tokens, (i + 1) * tokens).reduce((acc, a) => acc + a, 0),
    sink: (i) => map[i * tokens]!,
  };
  return shareOfRows(rows, queries, concept.includes(0), sink);
}
