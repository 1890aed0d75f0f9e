import { randomLcg } from 'd3-random';

/**
 * The null a unit's change is judged by: words of the same texts that are no concept
 * (negative controls), measured exactly as concepts are. A unit of k sequences (a
 * concept, or one sequence) has the statistic S = Σ z / √k over its sequences' class-
 * matched effects. Its null is S over k occurrences (seeded) of each word type found
 * outside annotated spans in k to 2k sequences of legal wording: such words recur as a
 * concept's term recurs, so their occurrences move together as a term's sequences do,
 * and no fixed scaling (√k, or k) has to be assumed. Words found in many more
 * sequences, and short words (function words), are a class of their own, and are
 * left out.
 */
export interface NegativeControlNull {
  /** Sequences per unit. */
  sequences: number;
  /** The word types that make the null. */
  words: string[];
  measures: number;
  /** Per measure, the null statistics' median and robust spread (1.4826 × MAD; 1 where it is 0). */
  centre: Float64Array;
  spread: Float64Array;
  /** Each word's standardised statistic, `[words × measures]`. */
  standardised: Float64Array;
  /** |standardised| of every word and measure, ascending: the pooled tail. */
  pooled: Float64Array;
}

/** Below this many negative-control words a null is too coarse to give a p-value. */
export const MIN_NULL_WORDS = 20;

/**
 * Words shorter than this (in characters) are no negative controls: "a", "of", "the",
 * "was" are a class of their own, far more frequent and spelt by single common tokens,
 * whose changes spread wider than a term's; a term is matched by words of content.
 */
export const MIN_WORD_LENGTH = 4;

/** S = Σ z / √k over the effects of a unit's k sequences, per measure. */
export function unitStatistic(effects: readonly Float64Array[]): Float64Array {
  const out = new Float64Array(effects[0]?.length ?? 0);
  const scale = Math.sqrt(effects.length);
  for (const z of effects) for (let h = 0; h < out.length; h++) out[h]! += z[h]! / scale;
  return out;
}

/** The median of the values (NaN for none). */
export function median(values: Float64Array): number {
  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  return n === 0 ? Number.NaN : n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** Seeded choice of k of n indices, in ascending order. */
function choose(n: number, k: number, random: () => number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, k).sort((a, b) => a - b);
}

/**
 * The null for units of k sequences from the words' effects (one effect array per
 * occurrence, in sequence order), standardised per measure by the median and MAD and
 * pooled over measures for the tail; undefined when fewer than `MIN_NULL_WORDS` words
 * qualify or a word's effect could not be measured.
 */
export function negativeControlNull(words: ReadonlyMap<string, readonly Float64Array[]>, k: number, measures: number, seed: number): NegativeControlNull | undefined {
  const random = randomLcg(((seed * 2_654_435_761 + k) >>> 0) / 2 ** 32);
  const chosen: string[] = [];
  const statistics: Float64Array[] = [];
  for (const [word, effects] of [...words].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (effects.length < k || effects.length > 2 * k || Array.from(word).length < MIN_WORD_LENGTH) continue;
    const statistic = unitStatistic(choose(effects.length, k, random).map((i) => effects[i]!));
    if (statistic.some(Number.isNaN)) continue;
    chosen.push(word);
    statistics.push(statistic);
  }
  if (chosen.length < MIN_NULL_WORDS) return undefined;
  const centre = new Float64Array(measures);
  const spread = new Float64Array(measures);
  const standardised = new Float64Array(chosen.length * measures);
  for (let h = 0; h < measures; h++) {
    const column = Float64Array.from(statistics, (s) => s[h]!);
    centre[h] = median(column);
    const mad = 1.4826 * median(column.map((v) => Math.abs(v - centre[h]!)));
    spread[h] = mad > 0 ? mad : 1;
    statistics.forEach((s, w) => (standardised[w * measures + h] = (s[h]! - centre[h]!) / spread[h]!));
  }
  return { sequences: k, words: chosen, measures, centre, spread, standardised, pooled: standardised.map(Math.abs).sort() };
}

/** What the run's negative-control words gave on one pair: the share of words beating chance as a concept would. */
export interface NegativeControlSummary {
  querySet?: string;
  sink?: string;
  /** Absent: `attention`. */
  lens?: string;
  pair: string;
  sequences: number;
  words: number;
  countBelowAlpha: number;
}

/**
 * The run's own false-positive rate at the concept level on a pair (and query set and
 * sink): the share of negative-control words, of units of two or more sequences as
 * concepts are, whose count beats chance when each is tested as a concept is.
 */
export function negativeControlShare(rows: readonly NegativeControlSummary[], pair: string, variant?: { querySet: string; sink: string; lens?: string | undefined }): { words: number; rate: number } | undefined {
  // one lens at a time: the attention share's where no variant says otherwise
  const kept = rows.filter((r) => r.pair === pair && r.sequences >= 2 && (r.lens ?? 'attention') === (variant?.lens ?? 'attention') && (!variant || (r.querySet === variant.querySet && r.sink === variant.sink)));
  const words = kept.reduce((n, r) => n + r.words, 0);
  return words > 0 ? { words, rate: kept.reduce((n, r) => n + r.countBelowAlpha * r.words, 0) / words } : undefined;
}

