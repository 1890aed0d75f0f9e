import { benjaminiHochberg } from './multiplicity.js';
import { median, unitStatistic, type NegativeControlNull } from './negative-controls.js';

/** A unit's change (a concept over its sequences, or one sequence) tested against its negative-control null, per measure. */
export interface ChanceTest {
  /** Mean class-matched effect z over the unit's sequences, per measure. */
  effect: Float64Array;
  /** The statistic S = Σ z / √k, standardised by the null's median and robust spread, per measure. */
  statistic: Float64Array;
  /** Two-sided p per measure: the share of negative-control statistics, pooled over measures, at least as far out. */
  pValue: Float64Array;
  /** Benjamini–Hochberg q over the measures. */
  qValue: Float64Array;
  /** Family-wise p over the measures: the share of negative-control words whose farthest statistic reaches this one (max-T). */
  familyPValue: Float64Array;
  headsBeatingChance: number;
  /** Mean number of measures with p < alpha among the negative-control words. */
  expectedByChance: number;
  /** p for the number of measures beating chance, against the negative-control words' own numbers. */
  countPValue: number;
  /** Negative-control words the null was made of. */
  nullWords: number;
}

// Standardised statistics this close count as equal (rounding of the same value).
const tie = (u: number): number => 1e-9 * Math.max(1, u);

/** Number of values ≥ x in an ascending array. */
function atLeast(sorted: Float64Array, x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return sorted.length - lo;
}

/** p of |u| against the pooled null, the word `leftOut` (tested as if it were a concept) taken out of it. */
function pooledP(u: number, nul: NegativeControlNull, leftOut?: number): number {
  if (Number.isNaN(u)) return Number.NaN;
  const size = Math.abs(u) - tie(Math.abs(u));
  let count = atLeast(nul.pooled, size);
  let total = nul.pooled.length;
  if (leftOut !== undefined) {
    for (let h = 0; h < nul.measures; h++) if (Math.abs(nul.standardised[leftOut * nul.measures + h]!) >= size) count--;
    total -= nul.measures;
  }
  return (1 + count) / (1 + total);
}

interface WordScores {
  /** Each word's number of measures with p < alpha, each tested against the others. */
  counts: number[];
  /** Each word's largest |standardised| statistic. */
  maxima: number[];
}

const scoresCache = new WeakMap<NegativeControlNull, Map<number, WordScores>>();

function wordScores(nul: NegativeControlNull, alpha: number): WordScores {
  const byAlpha = scoresCache.get(nul) ?? new Map<number, WordScores>();
  scoresCache.set(nul, byAlpha);
  const cached = byAlpha.get(alpha);
  if (cached) return cached;
  const counts = nul.words.map((_, w) => {
    let n = 0;
    for (let h = 0; h < nul.measures; h++) if (pooledP(nul.standardised[w * nul.measures + h]!, nul, w) < alpha) n++;
    return n;
  });
  const maxima = nul.words.map((_, w) => Math.max(...Array.from(nul.standardised.subarray(w * nul.measures, (w + 1) * nul.measures), Math.abs)));
  const scores = { counts, maxima };
  byAlpha.set(alpha, scores);
  return scores;
}

/** The standardised statistic of a unit: (S − centre) / spread per measure, centre and spread the null's own or the ones given. */
const standardisedStatistic = (effects: readonly Float64Array[], nul: NegativeControlNull, centre: ArrayLike<number> = nul.centre, spread: ArrayLike<number> = nul.spread): Float64Array =>
  unitStatistic(effects).map((s, h) => (s - centre[h]!) / spread[h]!);

/**
 * Tests a unit's class-matched effects (one array per sequence) against the negative-
 * control null of its number of sequences: p per measure from the null pooled over
 * measures, BH q, the max-T family p and the count of measures beating chance against
 * the words' own counts. `leftOut`: a word of the null tested as if it were a concept,
 * against the others.
 */
export function testAgainstNull(effects: readonly Float64Array[], nul: NegativeControlNull, alpha: number, leftOut?: number, centre?: ArrayLike<number>, spread?: ArrayLike<number>): ChanceTest {
  const statistic = leftOut === undefined ? standardisedStatistic(effects, nul, centre, spread) : nul.standardised.slice(leftOut * nul.measures, (leftOut + 1) * nul.measures);
  const pValue = statistic.map((u) => pooledP(u, nul, leftOut));
  const scores = wordScores(nul, alpha);
  const others = nul.words.map((_, w) => w).filter((w) => w !== leftOut);
  const observed = pValue.filter((p) => p < alpha).length;
  const familyPValue = statistic.map((u) => (Number.isNaN(u) ? Number.NaN : (1 + others.filter((w) => scores.maxima[w]! >= Math.abs(u) - tie(Math.abs(u))).length) / (1 + others.length)));
  const effect = new Float64Array(nul.measures);
  for (const z of effects) for (let h = 0; h < effect.length; h++) effect[h]! += z[h]! / effects.length;
  return {
    effect,
    statistic,
    pValue,
    qValue: benjaminiHochberg(pValue),
    familyPValue,
    headsBeatingChance: observed,
    expectedByChance: others.reduce((sum, w) => sum + scores.counts[w]!, 0) / (others.length || 1),
    countPValue: (1 + others.filter((w) => scores.counts[w]! >= observed).length) / (1 + others.length),
    nullWords: others.length,
  };
}

/** A family needs this many units for its own median to locate the null; fewer are located at the words' median. */
export const MIN_FAMILY_UNITS = 8;

/**
 * How a family's statistics are scaled: by the words' null (`null`), or by the
 * family's own robust spread where that is the narrower (`narrower`, the empirical null
 * of Efron 2004 on the narrow side). A word recurs across texts more alike than a term
 * does across its sequences, so for a measure with no heads to pool over (knockout) the
 * words' spread alone is too wide and the test too conservative; taking the narrower
 * never widens the null, so a change at some concepts, which widens the family, keeps
 * the words' spread.
 */
export type FamilyScale = 'null' | 'narrower';

/**
 * Tests every unit of a family (the concepts of a run under one target, query set,
 * sink and pair; or its sequences) together. Each is judged against the null of its own
 * number of sequences k, for spread, tails and the dependence between sequences; the
 * null is located, per measure, at √k × the family's median of S / √k, where at least
 * `MIN_FAMILY_UNITS` units have a statistic: a change shared by every concept (a shift
 * of their token class, which matching on class features leaves in part) is no change
 * of one concept. A unit with no null gets the reason instead.
 */
export function testFamily(units: ReadonlyArray<readonly Float64Array[]>, nullFor: (k: number) => NegativeControlNull | undefined, alpha: number, scale: FamilyScale = 'null'): Array<ChanceTest | string> {
  const nulls = units.map((effects) => (effects.length > 0 ? nullFor(effects.length) : undefined));
  const located = units.flatMap((effects, u) => (nulls[u] ? [unitStatistic(effects).map((s) => s / Math.sqrt(effects.length))] : []));
  const measures = located[0]?.length ?? 0;
  const family = located.length >= MIN_FAMILY_UNITS ? Array.from({ length: measures }, (_, h) => Float64Array.from(located.map((s) => s[h]!).filter(Number.isFinite))) : undefined;
  const location = family?.map(median);
  // 1.4826 × MAD: the sd of a normal family, robust to the few concepts that did change
  const familySpread = scale === 'narrower' ? family?.map((values, h) => 1.4826 * median(values.map((v) => Math.abs(v - location![h]!)))) : undefined;
  return units.map((effects, u) => {
    const nul = nulls[u];
    if (effects.length === 0) return 'no sequence has enough control runs of its class that could be measured';
    if (!nul) return `fewer than 20 negative-control words occur in ${effects.length} to ${2 * effects.length} sequences of legal wording`;
    const root = Math.sqrt(effects.length);
    const spread = familySpread?.map((f, h) => (f > 0 ? Math.min(nul.spread[h]!, f * root) : nul.spread[h]!));
    return testAgainstNull(effects, nul, alpha, undefined, location?.map((m) => m * root), spread);
  });
}

/** How often the negative-control words themselves beat chance when each is tested like a concept against the others. */
export interface NegativeControlRates {
  words: number;
  /** Share of word × measure tests with p below 0.05, 0.01 and 0.001. */
  tests: { '0.05': number; '0.01': number; '0.001': number };
  /** Share of words whose count of measures beating chance has p < alpha. */
  countBelowAlpha: number;
  /** Share of words with some measure at BH q < alpha. */
  someQBelowAlpha: number;
}

/** The run's own false-positive rates on this pair: every negative-control word tested as a concept is, against the others. */
export function negativeControlRates(nulls: readonly NegativeControlNull[], alpha: number): NegativeControlRates | undefined {
  const tests = { '0.05': 0, '0.01': 0, '0.001': 0 };
  let words = 0;
  let measured = 0;
  let counted = 0;
  let someQ = 0;
  for (const nul of nulls) {
    nul.words.forEach((_, w) => {
      const test = testAgainstNull([], nul, alpha, w);
      words++;
      for (const p of test.pValue) {
        measured++;
        if (p < 0.05) tests['0.05']++;
        if (p < 0.01) tests['0.01']++;
        if (p < 0.001) tests['0.001']++;
      }
      if (test.countPValue < alpha) counted++;
      if (test.qValue.some((q) => q < alpha)) someQ++;
    });
  }
  if (words === 0) return undefined;
  const share = (n: number, of: number): number => n / (of || 1);
  return { words, tests: { '0.05': share(tests['0.05'], measured), '0.01': share(tests['0.01'], measured), '0.001': share(tests['0.001'], measured) }, countBelowAlpha: share(counted, words), someQBelowAlpha: share(someQ, words) };
}

/** Over all concepts: how many beat chance (count p < alpha) against how many chance gives, with the binomial tail p. */
export interface OverallTest {
  concepts: number;
  conceptsBeatingChance: number;
  expectedByChance: number;
  /** P(X ≥ observed) for X ~ Binomial(concepts, alpha). */
  pValue: number;
}

export function overallTest(countPValues: readonly number[], alpha: number): OverallTest | undefined {
  const tested = countPValues.filter((p) => !Number.isNaN(p));
  if (tested.length === 0) return undefined;
  const n = tested.length;
  const observed = tested.filter((p) => p < alpha).length;
  let tail = 0;
  let term = (1 - alpha) ** n;
  for (let k = 0; k <= n; k++) {
    if (k >= observed) tail += term;
    term *= ((n - k) / (k + 1)) * (alpha / (1 - alpha));
  }
  return { concepts: n, conceptsBeatingChance: observed, expectedByChance: n * alpha, pValue: observed === 0 ? 1 : Math.min(1, tail) };
}
