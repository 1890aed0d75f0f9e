/**
 * Mean attention entropy of one head's map A (T×T) over the query tokens Q:
 * (1/|Q|) Σ_{i∈Q} −Σ_j A[i][j] ln A[i][j], in nats, with 0 ln 0 = 0.
 */
export function attentionEntropy(map: Float32Array, tokens: number, queries: readonly number[]): number {
  if (queries.length === 0) return Number.NaN;
  let sum = 0;
  for (const i of queries) {
    for (let j = 0; j < tokens; j++) {
      const p = map[i * tokens + j]!;
      if (p > 0) sum -= p * Math.log(p);
    }
  }
  return sum / queries.length;
}
