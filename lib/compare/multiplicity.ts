/** Chance values of a statistic, `[draws × heads]`. */
export interface ChanceDraws {
  values: Float64Array;
  count: number;
}

// A tolerance so that a chance value equal to the observed one counts as "as large" despite rounding.
const TIE = 1e-12;

/**
 * Two-sided permutation p-value per head: p = (1 + #{|chance| ≥ |observed|}) / (1 + N),
 * never 0, and 1 when every chance value is at least as large. A head whose statistic
 * is NaN (not measured) gets NaN: NaN compares false with everything and would
 * otherwise look like the smallest p.
 */
export function permutationPValues(observed: Float64Array, chance: ChanceDraws): Float64Array {
  const heads = observed.length;
  const p = new Float64Array(heads);
  for (let h = 0; h < heads; h++) {
    const size = Math.abs(observed[h]!);
    if (Number.isNaN(size)) {
      p[h] = Number.NaN;
      continue;
    }
    let asLarge = 0;
    // a draw that could not be measured (NaN) counts as at least as large: it must not make the observation look rare
    for (let d = 0; d < chance.count; d++) if (!(Math.abs(chance.values[d * heads + h]!) < size - TIE)) asLarge++;
    p[h] = (1 + asLarge) / (1 + chance.count);
  }
  return p;
}

/** Benjamini–Hochberg q-values (step-up, monotone, at most 1); NaN p-values are left out and stay NaN. */
export function benjaminiHochberg(p: Float64Array): Float64Array {
  const q = new Float64Array(p.length).fill(Number.NaN);
  const order = Array.from(p.keys())
    .filter((k) => !Number.isNaN(p[k]!))
    .sort((a, b) => p[a]! - p[b]!);
  const m = order.length;
  let running = 1;
  for (let r = m - 1; r >= 0; r--) {
    running = Math.min(running, (p[order[r]!]! * m) / (r + 1));
    q[order[r]!] = running;
  }
  return q;
}

/**
 * Westfall–Young single-step max-T: the family-wise p of each head is the share of
 * draws whose largest |statistic| over all heads reaches the head's |statistic|. The
 * draws keep the heads together (one control per sequence for every head), so the
 * dependence between heads is the real one.
 */
export function maxTPValues(observed: Float64Array, chance: ChanceDraws): Float64Array {
  const heads = observed.length;
  const maxima = new Float64Array(chance.count);
  for (let d = 0; d < chance.count; d++) {
    let max = 0;
    // heads not measured (NaN) take no part in the family
    for (let h = 0; h < heads; h++) if (!Number.isNaN(observed[h]!)) max = Math.max(max, Math.abs(chance.values[d * heads + h]!));
    maxima[d] = max;
  }
  return observed.map((v) => {
    if (Number.isNaN(v)) return Number.NaN;
    let asLarge = 0;
    for (const m of maxima) if (!(m < Math.abs(v) - TIE)) asLarge++;
    return (1 + asLarge) / (1 + chance.count);
  });
}

/**
 * The number of heads with p < alpha, against its own chance distribution: each draw
 * is scored like the observation, by the rank of its |statistic| among the draws of
 * its head, so the dependence between heads sets how far the count strays.
 */
export function countPValue(p: Float64Array, chance: ChanceDraws, alpha: number): { observed: number; expected: number; pValue: number } {
  const heads = p.length;
  const observed = p.filter((v) => v < alpha).length;
  const counts = new Float64Array(chance.count);
  const sizes = new Float64Array(chance.count);
  for (let h = 0; h < heads; h++) {
    if (Number.isNaN(p[h]!)) continue;
    for (let d = 0; d < chance.count; d++) sizes[d] = Math.abs(chance.values[d * heads + h]!);
    const sorted = Float64Array.from(sizes).sort();
    for (let d = 0; d < chance.count; d++) {
      if (Number.isNaN(sizes[d]!)) continue;
      // draws at least as large as this one, itself included (NaN sorts last: it counts as large)
      const asLarge = chance.count - lowerBound(sorted, sizes[d]! - TIE);
      if (asLarge / (1 + chance.count) < alpha) counts[d]!++;
    }
  }
  let expected = 0;
  let asMany = 0;
  for (const c of counts) {
    expected += c / chance.count;
    if (c >= observed) asMany++;
  }
  return { observed, expected, pValue: (1 + asMany) / (1 + chance.count) };
}

/** First index whose value is ≥ x in an ascending array. */
function lowerBound(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
