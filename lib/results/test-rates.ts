import type { Lens } from '../measure/measure-sequence.js';
import type { Comparison } from '../compare/compare.js';
import { benjaminiHochberg } from '../compare/multiplicity.js';
import type { RepresentationResults } from '../represent/representations.js';
import type { KnockoutMeasure, KnockoutResults } from '../knockout/measure.js';
import { finiteMean } from '../measure/distribution.js';

/** The alphas every rate is given at: a test calibrated at 0.05 may still be far off in its tail. */
export const RATE_ALPHAS = [0.05, 0.01, 0.001] as const;

/** What one family of tests (attention under one query set and sink, or representations) concluded over some runs. */
export interface TestRates {
  /** Concept × measure tests with p below each alpha, of `tests`. */
  below: Record<string, number>;
  tests: number;
  /** Concepts whose count of measures beating chance has p < alpha, of `concepts`. */
  countBelow: number;
  /** Concepts with some measure at BH q < alpha. */
  someQBelow: number;
  concepts: number;
  /** Runs whose overall count of concepts beating chance has p < alpha, of `runs`. */
  overallBelow: number;
  runs: number;
  /** The concepts' class-matched effect, averaged over concepts and measures and then over runs: a shift the whole class shares. */
  meanEffect: number;
}

const empty = (): TestRates => ({ below: Object.fromEntries(RATE_ALPHAS.map((a) => [a, 0])), tests: 0, countBelow: 0, someQBelow: 0, concepts: 0, overallBelow: 0, runs: 0, meanEffect: 0 });

/** Counts a run's overall finding, and its mean effect into the mean over runs. */
function addRun(rates: TestRates, pValue: number | undefined, effect: ArrayLike<number> | undefined, alpha: number): void {
  rates.runs++;
  if ((pValue ?? 1) < alpha) rates.overallBelow++;
  rates.meanEffect += (finiteMean(Array.from(effect ?? [])) - rates.meanEffect) / rates.runs;
}

function addConcept(rates: TestRates, pValues: ArrayLike<number>, countP: number | undefined, alpha: number): void {
  const p = Float64Array.from(pValues);
  rates.concepts++;
  for (const v of p) {
    if (Number.isNaN(v)) continue;
    rates.tests++;
    for (const a of RATE_ALPHAS) if (v < a) rates.below[a]!++;
  }
  if ((countP ?? 1) < alpha) rates.countBelow++;
  if (benjaminiHochberg(p).some((q) => q < alpha)) rates.someQBelow++;
}

/** Attention rates of one query set and sink mode (`all/include`) over the runs' first pair, for the concepts `chosen` picks, under one lens (the share's unless told). */
export function attentionRates(comparisons: readonly Comparison[], variant: string, alpha: number, chosen: (concept: string) => boolean = () => true, lens: Lens = 'attention'): TestRates {
  const rates = empty();
  for (const comparison of comparisons) {
    for (const scope of comparison.scopes) {
      if (scope.variant.target !== 'concept' || (scope.variant.lens ?? 'attention') !== lens || `${scope.variant.querySet}/${scope.variant.sink}` !== variant) continue;
      const change = scope.pairs[0];
      if (scope.scope === '*') addRun(rates, change?.overall?.pValue, change?.overall?.effect, alpha);
      else if (chosen(scope.scope) && change?.chance) addConcept(rates, change.chance.pValue, change.chance.countPValue, alpha);
    }
  }
  return rates;
}

/** Representation-change rates (concept × state tests) over the runs' first pair, for the concepts `chosen` picks. */
export function representationRates(results: ReadonlyArray<RepresentationResults | undefined>, alpha: number, chosen: (concept: string) => boolean = () => true): TestRates {
  const rates = empty();
  for (const r of results) {
    const pair = r?.changes[0]?.pair;
    for (const change of r?.changes.filter((c) => c.pair === pair) ?? []) {
      if (change.scope === '*') addRun(rates, change.overall?.pValue, change.effect, alpha);
      else if (chosen(change.scope) && change.pValue) addConcept(rates, change.pValue, change.countPValue, alpha);
    }
  }
  return rates;
}

/**
 * Knockout rates (concept × layer-set tests) of the runs' first pair, per measure or
 * both pooled: the per-model tests ask whether a model relies on the concept more than
 * on comparable spans, which no concept-agnostic change makes false; only the pair's
 * are calibrated against such a null.
 */
export function knockoutRates(results: ReadonlyArray<KnockoutResults | undefined>, alpha: number, chosen: (concept: string) => boolean = () => true, measures: readonly KnockoutMeasure[] = ['loglik', 'state']): TestRates {
  const rates = empty();
  for (const r of results) {
    const pair = r?.changes.find((c) => c.model.includes(':'))?.model;
    for (const change of r?.changes.filter((c) => c.model === pair && measures.includes(c.measure)) ?? []) {
      if (change.scope === '*') addRun(rates, change.overall?.pValue, change.effect, alpha);
      else if (chosen(change.scope) && change.pValue) addConcept(rates, change.pValue, change.countPValue, alpha);
    }
  }
  return rates;
}

const share = (n: number, of: number): number => Number((n / (of || 1)).toFixed(4));

/** The rates as shares, for tables and JSON. */
export function rateShares(r: TestRates): Record<string, number | string> {
  return {
    ...Object.fromEntries(RATE_ALPHAS.map((a) => [`p<${a}`, share(r.below[a]!, r.tests)])),
    'count p<α': share(r.countBelow, r.concepts),
    'some q<α': share(r.someQBelow, r.concepts),
    'overall p<α': `${r.overallBelow}/${r.runs}`,
    'mean effect': Number(r.meanEffect.toFixed(3)),
    tests: r.tests,
    concepts: r.concepts,
  };
}
