import type { Float32Tensor } from '../io/npy.js';

/**
 * Attention rollout (Abnar & Zuidema, 2020) reduced to the concept: for each layer l,
 * the mass that query i receives from the concept tokens C through all layers up to l,
 * u_l = Â_l · u_{l−1} with u_0 = 1_C and Â_l = 0.5·mean_h A_l + 0.5·I (rows renormalised).
 * Equal to (Â_l ⋯ Â_1 · 1_C) without forming the T×T rollout matrix: O(L·H·T²), not O(L·T³).
 * Returns `[layers, T]`.
 */
export function rolloutConceptMass(attention: Float32Tensor, concept: readonly number[], residual = 0.5): Float32Tensor {
  const [layers = 0, heads = 0, tokens = 0] = attention.dims;
  const size = tokens * tokens;
  const mass = new Float32Array(layers * tokens);
  let previous = new Float64Array(tokens);
  for (const j of concept) previous[j] = 1;
  for (let l = 0; l < layers; l++) {
    const next = new Float64Array(tokens);
    for (let i = 0; i < tokens; i++) {
      let mixed = 0;
      let rowSum = 0;
      for (let h = 0; h < heads; h++) {
        const row = attention.data.subarray((l * heads + h) * size + i * tokens, (l * heads + h) * size + (i + 1) * tokens);
        for (let j = 0; j < tokens; j++) {
          const a = ((1 - residual) * row[j]!) / heads;
          mixed += a * previous[j]!;
          rowSum += a;
        }
      }
      mixed += residual * previous[i]!;
      rowSum += residual;
      next[i] = mixed / rowSum;
      mass[l * tokens + i] = next[i]!;
    }
    previous = next;
  }
  return { data: mass, dims: [layers, tokens] };
}

/** Share of the rollout on C over the queries Q after layer l: (1/|Q|) Σ_{i∈Q} u_l[i]. */
export function rolloutShare(mass: Float32Tensor, layer: number, queries: readonly number[]): number {
  const tokens = mass.dims[1] ?? 0;
  if (queries.length === 0) return Number.NaN;
  let sum = 0;
  for (const i of queries) sum += mass.data[layer * tokens + i]!;
  return sum / queries.length;
}
