import { isAttentionLens } from '../measure/measure-sequence.js';
import { sampleRankCorrelation } from 'simple-statistics';
import { finiteMean } from '../measure/distribution.js';
import { isConceptTarget } from '../measure/measure-sequence.js';
import type { Comparison, ScopeComparison } from './compare.js';

/** One choice of analysis (span rule, query set, sink) and what it concluded for one scope and pair. */
export interface ChoiceResult {
  target: string;
  querySet: string;
  sink: string;
  meanDelta: number | null;
  /** Whether more heads beat chance than chance gives (count p < alpha); null without a baseline. */
  found: boolean | null;
}

/** Whether a scope's conclusions for one pair hold under every choice computed in the run. */
export interface Robustness {
  pair: string;
  choices: ChoiceResult[];
  /** `fell` or `rose` when mean Δ has that sign under every choice, else `mixed`. */
  direction: 'fell' | 'rose' | 'mixed' | 'unmeasured';
  /** `every` or `none` when the count test agrees under every choice, else `some`. */
  beyondChance: 'every' | 'some' | 'none' | 'untested';
}

function choiceOf(scope: ScopeComparison, pair: string, alpha: number): ChoiceResult {
  const change = scope.pairs.find((c) => c.pair === pair);
  const mean = change ? finiteMean(change.delta) : Number.NaN;
  return {
    target: scope.variant.target,
    querySet: scope.variant.querySet,
    sink: scope.variant.sink,
    meanDelta: Number.isFinite(mean) ? mean : null,
    // a concept: its count test; overall: whether more concepts beat chance than chance gives
    found: change?.chance ? change.chance.countPValue < alpha : change?.overall ? change.overall.pValue < alpha : null,
  };
}

function verdict(pair: string, choices: ChoiceResult[]): Robustness {
  // a mean Δ of exactly 0 moves neither way: it neither sets nor breaks a direction
  const signs = new Set(choices.flatMap((c) => (c.meanDelta === null || c.meanDelta === 0 ? [] : [Math.sign(c.meanDelta)])));
  const found = new Set(choices.flatMap((c) => (c.found === null ? [] : [c.found])));
  return {
    pair,
    choices,
    direction: signs.size === 0 ? 'unmeasured' : signs.size > 1 ? 'mixed' : signs.has(-1) ? 'fell' : 'rose',
    beyondChance: found.size === 0 ? 'untested' : found.size > 1 ? 'some' : found.has(true) ? 'every' : 'none',
  };
}

/**
 * Side by side, per concept (and `*` overall) and pair: the concept's mean Δ and the
 * count test under each span rule, query set and sink mode the run measured, and
 * whether the direction and the finding hold under all of them.
 */
export function robustnessOf(comparison: Comparison, scope: string, alpha: number): Robustness[] {
  const scopes = comparison.scopes.filter((s) => s.scope === scope && isConceptTarget(s.variant.target) && isAttentionLens(s.variant) && !s.unmeasurable);
  const pairs = [...new Set(scopes.flatMap((s) => s.pairs.map((c) => c.pair)))];
  return pairs.map((pair) => verdict(pair, scopes.map((s) => choiceOf(s, pair, alpha))));
}

/**
 * Span width against change: Spearman's ρ over concepts between the concept's width in
 * tokens (mean over its sequences) and its mean Δ, per pair, under the first choice
 * (span rule, query set, sink include); null with fewer than three concepts.
 */
export function widthCorrelation(comparison: Comparison, widths: ReadonlyMap<string, number>): Record<string, number | null> {
  const first = comparison.scopes.find((s) => s.scope !== '*' && isConceptTarget(s.variant.target) && isAttentionLens(s.variant));
  const scopes = comparison.scopes.filter((s) => s.scope !== '*' && first && s.variant.target === first.variant.target && s.variant.querySet === first.variant.querySet && s.variant.sink === first.variant.sink && isAttentionLens(s.variant));
  const pairs = [...new Set(scopes.flatMap((s) => s.pairs.map((c) => c.pair)))];
  return Object.fromEntries(
    pairs.map((pair) => {
      const points = scopes.flatMap((s) => {
        const change = s.pairs.find((c) => c.pair === pair);
        const mean = change ? finiteMean(change.delta) : Number.NaN;
        const width = widths.get(s.scope);
        return Number.isFinite(mean) && width !== undefined ? [[width, mean] as const] : [];
      });
      const rho = points.length >= 3 ? sampleRankCorrelation(points.map((p) => p[0]), points.map((p) => p[1])) : Number.NaN;
      return [pair, Number.isFinite(rho) ? rho : null];
    }),
  );
}
