/**
 * How the first key token (`<s>`, the attention sink that takes most of the mass in
 * Mistral-style models) is treated: `include` as it is; `exclude` renormalises each
 * row without it, A'[i][j] = A[i][j] / (1 − A[i][0]) for j ≥ 1, and drops query 0,
 * whose only key is the sink.
 */
export type SinkMode = 'include' | 'exclude';
export const SINK_MODES: readonly SinkMode[] = ['include', 'exclude'];

/**
 * Attention share of one head's map A (T×T, row-major) on the key tokens C over the
 * query tokens Q: s = (Σ_{i∈Q} Σ_{j∈C} A[i][j]) / (Σ_{i∈Q} Σ_j A[i][j]).
 * NaN when no query remains.
 */
export function attentionShare(map: Float32Array, tokens: number, concept: readonly number[], queries: readonly number[], sink: SinkMode = 'include'): number {
  let onConcept = 0;
  let total = 0;
  for (const i of queries) {
    const row = map.subarray(i * tokens, (i + 1) * tokens);
    let rowTotal = 0;
    for (let j = 0; j < tokens; j++) rowTotal += row[j]!;
    let rowConcept = 0;
    for (const j of concept) rowConcept += row[j]!;
    if (sink === 'exclude') {
      const kept = rowTotal - row[0]!;
      if (i === 0 || kept <= 0) continue;
      if (concept.includes(0)) rowConcept -= row[0]!;
      onConcept += rowConcept / kept;
      total += 1;
    } else {
      onConcept += rowConcept;
      total += rowTotal;
    }
  }
  return total > 0 ? onConcept / total : Number.NaN;
}
