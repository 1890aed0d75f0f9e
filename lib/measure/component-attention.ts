import type { TokenSpan } from '../tokenize/align-spans.js';

/** The labelled components of a sequence's spans, each with its tokens, in label order. */
export function componentTokens(spans: readonly TokenSpan[]): Array<{ label: string; tokens: number[] }> {
  const byLabel = new Map<string, Set<number>>();
  for (const span of spans) {
    if (!span.label) continue;
    const set = byLabel.get(span.label) ?? new Set<number>();
    span.tokens.forEach((t) => set.add(t));
    byLabel.set(span.label, set);
  }
  return [...byLabel.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([label, tokens]) => ({ label, tokens: [...tokens].sort((x, y) => x - y) }));
}

/**
 * Component × component attention from what each query puts on each component:
 * M[a][b] = (1/|a|) Σ_{i∈a} massOn(i, b), the mean over the query tokens of component a
 * of the mass they put on component b. Returns `[a × n + b]`.
 */
export function componentAttentionOfRows(components: ReadonlyArray<{ tokens: readonly number[] }>, massOn: (query: number, component: number) => number): Float64Array {
  const n = components.length;
  const out = new Float64Array(n * n);
  components.forEach((from, a) => {
    for (let b = 0; b < n; b++) {
      let mass = 0;
      for (const i of from.tokens) mass += massOn(i, b);
      out[a * n + b] = from.tokens.length > 0 ? mass / from.tokens.length : Number.NaN;
    }
  });
  return out;
}

/**
 * Component × component attention of one T×T map: M[a][b] = (1/|a|) Σ_{i∈a} Σ_{j∈b} A[i][j].
 * Causality makes M[a][b] zero when b comes wholly after a. Returns `[a × n + b]`.
 */
export function componentAttention(map: Float32Array, tokens: number, components: ReadonlyArray<{ tokens: readonly number[] }>): Float64Array {
  return componentAttentionOfRows(components, (i, b) => components[b]!.tokens.reduce((acc, j) => acc + map[i * tokens + j]!, 0));
}
