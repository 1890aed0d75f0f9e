import { finiteMean } from '../measure/distribution.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { negativeControlRates, overallTest, testFamily, type ChanceTest, type FamilyScale, type NegativeControlRates, type OverallTest } from './chance.js';
import { changeJudge, type ControlMatcher } from './judge.js';

/** One sequence's values of a measure family: the concept's `[measures]`, at the span `tokens`. */
export interface FamilyItem {
  concept: string;
  /** The sequence's index in the run's reference plan. */
  sequence: number;
  tokens: readonly number[];
  values: ArrayLike<number>;
}

/** One scope (a concept, or `*` for all) of a measure family: means, matched controls' means, and the chance test. */
export interface FamilyResult {
  scope: string;
  /** Per measure: the mean value at the concept, and at its matched control runs. */
  concept: number[];
  control: number[];
  /** Class-matched effect per measure (mean over sequences; overall, over concepts). */
  effect?: number[];
  /** Against the negative-control null; absent for `*`, or where `untested` says why. */
  pValue?: number[];
  layersBeatingChance?: number;
  expectedByChance?: number;
  countPValue?: number;
  untested?: string;
  /** Over all concepts (`*`): how many beat chance against how many chance gives. */
  overall?: OverallTest;
}

/** A measure family's values: per sequence of the plan, every reference span's `[spans × measures]` (empty where none was measured). */
export interface FamilyValues {
  measures: number;
  precision: number;
  bySequence: ReadonlyArray<Float64Array>;
  items: readonly FamilyItem[];
  /** How the concepts' statistics are scaled (the words' null unless told). */
  scale?: FamilyScale;
}

/** How a family is judged: the run's reference plan and control matcher, its concepts in order, the null's seed and alpha. */
export interface FamilyOptions {
  plan: ReferencePlan;
  matcher: ControlMatcher;
  concepts: readonly string[];
  seed: number;
  alpha: number;
}

/**
 * Judges one family of span values (representation change of a pair, or a knockout
 * measure of a model or pair) as attention shares are: each concept's class-matched
 * effect, its concepts tested together against the negative-control null, the count of
 * concepts beating chance, and the negative-control words' own rates.
 */
export function judgeFamily(values: FamilyValues, options: FamilyOptions): { results: FamilyResult[]; negativeControls: Array<NegativeControlRates & { sequences: number }> } {
  const { plan, matcher } = options;
  const M = values.measures;
  const judge = changeJudge(plan, matcher, { measures: M, precision: values.precision, bySequence: values.bySequence }, options.seed);
  const judged = values.items.map((item) => ({ item, effect: judge.effectOf(item.sequence, item.tokens, item.values) }));
  // the mean value of a sequence's matched control runs, read from the sequences they lie in
  const controlValue = (item: FamilyItem, m: number): number =>
    finiteMean(
      matcher.runs(item.sequence, item.tokens).map((run) => {
        const { sequence, span } = matcher.library.runs[run]!;
        return values.bySequence[sequence]![span * M + m]!;
      }),
    );
  const result = (scope: string, items: typeof judged): FamilyResult => {
    const perMeasure = (value: (item: FamilyItem, m: number) => number): number[] => Array.from({ length: M }, (_, m) => finiteMean(items.map(({ item }) => value(item, m))));
    return { scope, concept: perMeasure((item, m) => item.values[m]!), control: perMeasure(controlValue) };
  };
  const perConcept = options.concepts.map((id) => result(id, judged.filter((j) => j.item.concept === id)));
  // the concepts are one family, tested together: the null located at their own median
  const units = options.concepts.map((id) => judged.filter((j) => j.item.concept === id && !j.effect.every(Number.isNaN)).map((j) => j.effect));
  testFamily(units, (k) => judge.nullFor(k), options.alpha, values.scale).forEach((test, c) => withTest(perConcept[c]!, test));
  const overall = result('*', judged);
  const test = overallTest(perConcept.map((c) => c.countPValue ?? Number.NaN), options.alpha);
  if (test) overall.overall = test;
  const conceptEffects = perConcept.flatMap((c) => (c.effect ? [c.effect] : []));
  if (conceptEffects.length > 0) overall.effect = Array.from({ length: M }, (_, m) => finiteMean(conceptEffects.map((e) => e[m]!)));
  const negativeControls = judge.nulls().flatMap((nul) => {
    const rates = negativeControlRates([nul], options.alpha);
    return rates ? [{ sequences: nul.sequences, ...rates }] : [];
  });
  return { results: [...perConcept, overall], negativeControls };
}

/** A concept's test against its null, or why it has none. */
function withTest(result: FamilyResult, test: ChanceTest | string): void {
  if (typeof test === 'string') {
    result.untested = test;
    return;
  }
  result.effect = Array.from(test.effect);
  result.pValue = Array.from(test.pValue);
  result.layersBeatingChance = test.headsBeatingChance;
  result.expectedByChance = test.expectedByChance;
  result.countPValue = test.countPValue;
}
