import { randomLcg } from 'd3-random';
import { benjaminiHochberg, countPValue, maxTPValues, permutationPValues, type ChanceDraws } from './multiplicity.js';
import type { StandardisedChanges } from './position-matched.js';

export interface ChanceOptions {
  /** Chance draws when the combinations of controls are more than this. */
  draws: number;
  seed: number;
  alpha: number;
}

/** A target's change tested against position-matched controls, per head, with the multiplicity over heads. */
export interface ChanceTest {
  /** Position-matched effect size per head: the mean over sequences of (Δ − mean Δ of the nearest controls) / their sd. */
  effect: Float64Array;
  /** Two-sided permutation p per head. */
  pValue: Float64Array;
  /** Benjamini–Hochberg q over the heads. */
  qValue: Float64Array;
  /** Family-wise p over the heads (Westfall–Young max-T from the same draws). */
  familyPValue: Float64Array;
  headsBeatingChance: number;
  /** Mean number of heads with p < alpha in the chance draws (about alpha × heads). */
  expectedByChance: number;
  /** p for the number of heads beating chance, against its distribution over the draws. */
  countPValue: number;
  draws: number;
}

/**
 * The statistic per head: over groups (concepts), the mean of each group's sum of
 * standardised changes divided by `scale(n)`. Observed, a group's sequences are
 * averaged (scale n); in a chance draw they are scaled by √n, because a concept's
 * sequences share its term and are not independent replicates: a token's change
 * between two checkpoints recurs in each sequence that holds it, while controls drawn
 * from different positions carry different tokens. Scaling by √n gives the chance mean
 * of a group the spread of one span, which is what the observed mean has when its
 * sequences move together.
 */
function groupedMean(rows: ReadonlyArray<readonly Float64Array[]>, heads: number, scale: (n: number) => number, into: Float64Array): void {
  into.fill(0);
  for (const group of rows) {
    const s = scale(group.length);
    for (const row of group) for (let h = 0; h < heads; h++) into[h]! += row[h]! / s / rows.length;
  }
}

/** Draws one control per sequence (every combination when few enough, else seeded draws) and returns the chance statistic of each. */
function chanceDraws(groups: ReadonlyArray<readonly StandardisedChanges[]>, heads: number, options: ChanceOptions): ChanceDraws {
  const sequences = groups.flat();
  const combinations = sequences.reduce((n, s) => n * s.controlCount, 1);
  const exhaustive = combinations <= options.draws;
  const count = exhaustive ? combinations : options.draws;
  const random = randomLcg(options.seed);
  const values = new Float64Array(count * heads);
  const choice = new Array<number>(sequences.length).fill(0);
  for (let d = 0; d < count; d++) {
    let rest = d;
    sequences.forEach((s, k) => {
      // a mixed-radix counter over the sequences' control counts, or a seeded draw
      choice[k] = exhaustive ? rest % s.controlCount : Math.floor(random() * s.controlCount);
      rest = Math.floor(rest / s.controlCount);
    });
    let k = 0;
    const rows = groups.map((group) => group.map((s) => s.controls.subarray(choice[k]! * heads, (choice[k++]! + 1) * heads)));
    groupedMean(rows, heads, Math.sqrt, values.subarray(d * heads, (d + 1) * heads));
  }
  return { values, count };
}

/**
 * Tests a target's change against chance: the observed statistic beside the same
 * statistic with one control span in place of the target in every sequence.
 * Undefined when no sequence has enough controls.
 */
export function chanceTest(groups: ReadonlyArray<readonly StandardisedChanges[]>, heads: number, options: ChanceOptions): ChanceTest | undefined {
  const kept = groups.filter((g) => g.length > 0);
  if (kept.length === 0) return undefined;
  const effect = new Float64Array(heads);
  groupedMean(kept.map((g) => g.map((s) => s.observed)), heads, (n) => n, effect);
  const draws = chanceDraws(kept, heads, options);
  const pValue = permutationPValues(effect, draws);
  const count = countPValue(pValue, draws, options.alpha);
  return {
    effect,
    pValue,
    qValue: benjaminiHochberg(pValue),
    familyPValue: maxTPValues(effect, draws),
    headsBeatingChance: count.observed,
    expectedByChance: count.expected,
    countPValue: count.pValue,
    draws: draws.count,
  };
}
