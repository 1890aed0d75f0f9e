import { randomLcg } from 'd3-random';

/** One sequence's control deltas: `controls × heads` values, Δ of each control span per head. */
export interface ControlDeltas {
  values: Float64Array;
  controls: number;
  /** The sequence's own Δ per head: what it contributes when it has no room for a control. */
  observed: Float64Array;
}

/**
 * The chance distribution of a mean change: the same mean (over the concepts of a
 * group, of the mean over each concept's sequences) computed with one control span
 * in place of the concept in every sequence. Every combination when there are at
 * most `draws`, else `draws` combinations drawn with the seed. A sequence with no room
 * for a control keeps its observed Δ in every draw: its contribution is fixed, which
 * can move p either way. Returns `[combinations × heads]`, or undefined when no
 * sequence has a control.
 */
export function chanceMeans(groups: ReadonlyArray<readonly ControlDeltas[]>, heads: number, draws: number, seed: number): { values: Float64Array; count: number } | undefined {
  const sequences = groups.flat();
  if (sequences.every((s) => s.controls === 0)) return undefined;
  const combinations = sequences.reduce((n, s) => n * Math.max(1, s.controls), 1);
  const exhaustive = combinations <= draws;
  const count = exhaustive ? combinations : draws;
  const random = randomLcg(seed);
  const values = new Float64Array(count * heads);
  const choice = new Array<number>(sequences.length).fill(0);
  for (let d = 0; d < count; d++) {
    if (exhaustive) {
      // mixed-radix counter over the sequences' control counts
      let rest = d;
      sequences.forEach((s, k) => {
        const n = Math.max(1, s.controls);
        choice[k] = rest % n;
        rest = Math.floor(rest / n);
      });
    } else {
      sequences.forEach((s, k) => {
        choice[k] = Math.floor(random() * s.controls);
      });
    }
    const out = values.subarray(d * heads, (d + 1) * heads);
    let k = 0;
    for (const group of groups) {
      for (const s of group) {
        const row = s.controls === 0 ? s.observed : s.values.subarray(choice[k]! * heads, (choice[k]! + 1) * heads);
        for (let h = 0; h < heads; h++) out[h]! += row[h]! / group.length / groups.length;
        k++;
      }
    }
  }
  return { values, count };
}

/**
 * Two-sided permutation p-value per head: p = (1 + #{|chance| ≥ |observed|}) / (1 + N),
 * which is never 0 and is 1 when every chance value is at least as large.
 */
export function permutationPValues(observed: Float64Array, chance: { values: Float64Array; count: number }): Float64Array {
  const heads = observed.length;
  const p = new Float64Array(heads);
  for (let h = 0; h < heads; h++) {
    const size = Math.abs(observed[h]!);
    // An unmeasured head (NaN) gets no p-value: a NaN compares false with everything and would look like the smallest p.
    if (Number.isNaN(size)) {
      p[h] = Number.NaN;
      continue;
    }
    let asLarge = 0;
    for (let d = 0; d < chance.count; d++) if (Math.abs(chance.values[d * heads + h]!) >= size - 1e-12) asLarge++;
    p[h] = (1 + asLarge) / (1 + chance.count);
  }
  return p;
}
