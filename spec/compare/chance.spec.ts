import assert from 'node:assert/strict';
import { randomLcg, randomNormal } from 'd3-random';
import { negativeControlRates, overallTest, testAgainstNull, testFamily, type ChanceTest } from '../../lib/compare/chance.js';
import { classMatchedEffect } from '../../lib/compare/class-matched.js';
import { negativeControlNull, negativeControlShare, unitStatistic } from '../../lib/compare/negative-controls.js';

const round = (values: ArrayLike<number>, digits = 9): number[] => Array.from(values, (v) => Number(v.toFixed(digits)));

describe('classMatchedEffect', () => {
  // four runs, two heads: run r has Δ = r (head 0) and 10 (head 1)
  const controls = Float64Array.of(0, 10, 1, 10, 2, 10, 3, 10, 4, 10, 5, 10, 6, 10, 7, 10, 8, 10, 9, 10, 10, 10);
  const all = Array.from({ length: 11 }, (_, k) => k);

  it('is (Δ − mean) / sd of the matched runs\' changes, per head', () => {
    // runs 0..10: mean 5, sample sd √11
    const z = classMatchedEffect(Float64Array.of(5 + 2 * Math.sqrt(11), 10), controls, all, 2, 1e-6);
    assert.deepEqual(round(z), [2, 0]);
  });

  it('calls a difference below the measure\'s precision a tie, and a spread below it the precision', () => {
    const z = classMatchedEffect(Float64Array.of(5 + 1e-9, 10 + 3e-6), controls, all, 2, 1e-6);
    // head 0: below precision, a tie; head 1: the runs did not vary, so the spread is the precision itself
    assert.deepEqual(round(z), [0, 3]);
  });

  it('gives no effect from fewer than ten matched runs', () => {
    assert.ok(classMatchedEffect(Float64Array.of(1, 1), controls, [0, 1, 2], 2, 1e-6).every(Number.isNaN));
  });
});

/** Word effects: `count` words, each with `occurrences` effects of `heads` heads, from `value(word, occurrence, head)`. */
function words(count: number, occurrences: number, heads: number, value: (w: number, o: number, h: number) => number): Map<string, Float64Array[]> {
  return new Map(Array.from({ length: count }, (_, w) => [`w${String(w).padStart(3, '0')}`, Array.from({ length: occurrences }, (_, o) => Float64Array.from({ length: heads }, (_, h) => value(w, o, h)))]));
}

describe('negativeControlNull', () => {
  it('takes words of content found in k to 2k sequences, k occurrences of each, and standardises S = Σz/√k by the median and 1.4826 MAD per head', () => {
    // 25 words of 3 occurrences whose z are all w − 12 (S = √3 (w − 12)); 5 words of 7 occurrences are out of reach for k = 3,
    // and "of", a function word, is no negative control
    const effects = new Map([...words(25, 3, 1, (w) => w - 12), ...[...words(5, 7, 1, () => 100)].map(([k, v]) => [`x${k}`, v] as const), ['of', [Float64Array.of(50), Float64Array.of(50), Float64Array.of(50)]]]);
    const nul = negativeControlNull(effects, 3, 1, 1)!;
    assert.equal(nul.words.length, 25);
    // median 0; |S| = √3·|w − 12| has median √3·6
    assert.deepEqual(round([nul.centre[0]!, nul.spread[0]!]), round([0, 1.4826 * 6 * Math.sqrt(3)]));
    assert.deepEqual(round([nul.standardised[0]!]), round([-12 / (1.4826 * 6)]));
  });

  it('gives no null from fewer than 20 words, or for words that do not recur k times', () => {
    assert.equal(negativeControlNull(words(19, 3, 1, () => 1), 3, 1, 1), undefined);
    assert.equal(negativeControlNull(words(30, 2, 1, () => 1), 3, 1, 1), undefined);
  });

  it('is S = Σ z / √k', () => {
    assert.deepEqual(round(unitStatistic([Float64Array.of(1, 2), Float64Array.of(3, 2)])), round([4 / Math.SQRT2, 4 / Math.SQRT2]));
  });
});

describe('testAgainstNull', () => {
  // 40 words of one occurrence, two heads: z = (w − 19.5) / 10 at head 0, its negative at head 1
  const nul = negativeControlNull(words(40, 1, 2, (w, _, h) => (h === 0 ? 1 : -1) * ((w - 19.5) / 10)), 1, 2, 1)!;

  it('gives p = (1 + #{pooled |u| ≥ |u|}) / (1 + pooled), two-sided over both heads', () => {
    // |u| of the null: 0.5/10/s … 19.5/10/s twice over each head, s the MAD spread; a unit beyond every one has p = 1/81
    const test = testAgainstNull([Float64Array.of(100, 0)], nul, 0.05);
    assert.equal(test.pValue[0], 1 / 81);
    // u = 0 is as far out as every null value: p = 1
    assert.equal(test.pValue[1], 1);
    assert.equal(test.headsBeatingChance, 1);
    assert.equal(test.nullWords, 40);
  });

  it('counts a word of the null against the others only, when it is tested as a concept', () => {
    const test = testAgainstNull([], nul, 0.05, 39);
    // word 39 is the farthest at both heads, tied with word 0 (its mirror image); the other 39 words give 78 values, two as far
    assert.deepEqual([test.pValue[0], test.pValue[1]], [3 / 79, 3 / 79]);
    assert.equal(test.nullWords, 39);
  });

  it('gives the run\'s own rates: about alpha of the words beat chance tested as concepts', () => {
    const rates = negativeControlRates([nul], 0.05)!;
    assert.equal(rates.words, 40);
    assert.ok(rates.tests['0.05'] > 0.02 && rates.tests['0.05'] < 0.08, `${rates.tests['0.05']}`);
  });
});

describe('testFamily', () => {
  // 40 null words of three occurrences, one head: z = (w − 19.5) / 10 in each occurrence
  const nul = negativeControlNull(words(40, 3, 1, (w) => (w - 19.5) / 10), 3, 1, 1)!;
  const unit = (z: number): Float64Array[] => [Float64Array.of(z), Float64Array.of(z), Float64Array.of(z)];

  it('locates the null at the family\'s own median: a shift every concept shares is no concept\'s change', () => {
    // twelve concepts all moved by 5 (far beyond every word), one of them by 5 more
    const family = [...Array.from({ length: 11 }, () => unit(5)), unit(10)];
    const tests = testFamily(family, () => nul, 0.05) as ChanceTest[];
    assert.ok(tests.slice(0, 11).every((t) => t.pValue[0] === 1));
    assert.equal(tests[11]!.pValue[0], 1 / 41);
    // with too few concepts to locate it, the null stays at the words' median
    const few = testFamily(family.slice(0, 3), () => nul, 0.05) as ChanceTest[];
    assert.equal(few[0]!.pValue[0], 1 / 41);
  });

  it('scaled \'narrower\', takes the family\'s own spread where the words spread wider, and the words\' where they spread narrower', () => {
    // twelve concepts within ±0.055 of each other, one at 0.2: inside the words' spread, far outside the family's
    const tight = [...Array.from({ length: 12 }, (_, j) => unit(0.01 * (j - 5.5))), unit(0.2)];
    assert.equal((testFamily(tight, () => nul, 0.05) as ChanceTest[])[12]!.pValue[0], 37 / 41);
    assert.equal((testFamily(tight, () => nul, 0.05, 'narrower') as ChanceTest[])[12]!.pValue[0], 1 / 41);
    // a family spread wider than the words (a change at some concepts widens it) keeps the words' spread
    const wide = Array.from({ length: 12 }, (_, j) => unit(j - 5.5));
    const pValues = (scale?: 'narrower'): number[] => (testFamily(wide, () => nul, 0.05, scale) as ChanceTest[]).map((t) => t.pValue[0]!);
    assert.deepEqual(pValues('narrower'), pValues());
  });

  it('says why a unit has no test', () => {
    assert.deepEqual(testFamily([[], unit(1)], () => undefined, 0.05), ['no sequence has enough control runs of its class that could be measured', 'fewer than 20 negative-control words occur in 3 to 6 sequences of legal wording']);
  });
});

describe('overallTest', () => {
  it('is the binomial tail of the concepts beating chance', () => {
    // 2 of 4 at alpha 0.1: P(X ≥ 2) = 1 − 0.9⁴ − 4·0.1·0.9³ = 0.0523
    const test = overallTest([0.01, 0.02, 0.5, 0.9], 0.1)!;
    assert.deepEqual([test.concepts, test.conceptsBeatingChance, Number(test.pValue.toFixed(4))], [4, 2, 0.0523]);
    assert.equal(overallTest([0.5, 0.6], 0.05)!.pValue, 1);
  });
});

describe('negativeControlShare', () => {
  it('weighs the rates of nulls of two or more sequences by their words, for one pair', () => {
    const rows = [
      { pair: 'b:a', sequences: 3, words: 60, countBelowAlpha: 0.05 },
      { pair: 'b:a', sequences: 4, words: 20, countBelowAlpha: 0.1 },
      { pair: 'b:a', sequences: 1, words: 600, countBelowAlpha: 0.5 },
      { pair: 'c:a', sequences: 3, words: 60, countBelowAlpha: 0.9 },
    ];
    assert.deepEqual(negativeControlShare(rows, 'b:a'), { words: 80, rate: (3 + 2) / 80 });
  });
});

/**
 * Where the answer is known: units of three sequences whose effects share a unit-level
 * part (a term recurs in each of its sequences), concepts and words alike, over eight
 * heads with a part shared by all heads of a unit; with nothing concept-specific, or with
 * a shift planted on four heads of the concepts.
 */
function simulated(planted: number, seed: number) {
  const normal = randomNormal.source(randomLcg(seed))(0, 1);
  const heads = 8;
  const unit = (shift: number): Float64Array[] => {
    const term = Array.from({ length: heads }, () => normal());
    const shared = normal();
    return Array.from({ length: 3 }, () => Float64Array.from(term, (t, h) => 0.6 * t + 0.3 * shared + 0.75 * normal() + (h < 4 ? shift : 0)));
  };
  const nullWords = new Map(Array.from({ length: 120 }, (_, w) => [`word${w}`, unit(0)]));
  return { concepts: Array.from({ length: 400 }, () => unit(planted)), nul: negativeControlNull(nullWords, 3, heads, 1)! };
}

function rejectionRate(concepts: readonly Float64Array[][], nul: NonNullable<ReturnType<typeof negativeControlNull>>, heads: number[], alpha: number): number {
  let rejected = 0;
  for (const concept of concepts) {
    const p = testAgainstNull(concept, nul, alpha).pValue;
    for (const h of heads) rejected += p[h]! < alpha ? 1 : 0;
  }
  return rejected / (concepts.length * heads.length);
}

describe('the negative-control null, where the answer is known', () => {
  it('flags about alpha of concept × head tests when nothing concept-specific changed, at 0.05 and in the tail', () => {
    const { concepts, nul } = simulated(0, 11);
    const all = [0, 1, 2, 3, 4, 5, 6, 7];
    const rate = rejectionRate(concepts, nul, all, 0.05);
    assert.ok(rate > 0.025 && rate < 0.075, `false-positive rate ${rate}`);
    assert.ok(rejectionRate(concepts, nul, all, 0.01) <= 0.02);
  });

  it('finds a change planted on some heads of the concepts, and not the others', () => {
    const { concepts, nul } = simulated(2, 12);
    const power = rejectionRate(concepts, nul, [0, 1, 2, 3], 0.05);
    const others = rejectionRate(concepts, nul, [4, 5, 6, 7], 0.05);
    assert.ok(power > 0.5, `power ${power}`);
    assert.ok(others < 0.075, `false-positive rate on unplanted heads ${others}`);
  });
});
