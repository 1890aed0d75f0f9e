import assert from 'node:assert/strict';
import type { Comparison, ScopeComparison } from '../../lib/compare/compare.js';
import { robustnessOf, widthCorrelation } from '../../lib/compare/robustness.js';
import { describeDistribution } from '../../lib/measure/distribution.js';

/** A scope of one concept under one choice, with Δ over two heads and a count p. */
function scope(concept: string, target: string, querySet: 'all' | 'after', delta: number[], countPValue: number): ScopeComparison {
  const d = Float64Array.from(delta);
  const chance = { effect: d, statistic: d, pValue: d, qValue: d, familyPValue: d, headsBeatingChance: 0, expectedByChance: 0, countPValue, nullWords: 20 };
  return {
    scope: concept,
    variant: { target, querySet, sink: 'include' },
    sequences: [],
    skipped: [],
    unjudged: [],
    models: [],
    pairs: [{ pair: 'cpt:base', delta: d, relative: d, entropyDelta: d, rolloutDelta: d, chance, distribution: describeDistribution(d) }],
  };
}

const comparison = (scopes: ScopeComparison[]): Comparison => ({ layers: 1, heads: 2, scopes, sequences: [], negativeControls: [] });

describe('robustnessOf', () => {
  it('says a direction holds when mean Δ has one sign under every choice, and a finding when the count test agrees', () => {
    const [r] = robustnessOf(comparison([scope('a', 'concept', 'all', [-0.2, 0.1], 0.01), scope('a', 'concept@majority', 'all', [-0.1, 0], 0.02), scope('a', 'concept', 'after', [-0.3, -0.1], 0.03)]), 'a', 0.05);
    assert.equal(r!.direction, 'fell');
    assert.equal(r!.beyondChance, 'every');
    assert.deepEqual(r!.choices.map((c) => `${c.target} ${c.querySet}`), ['concept all', 'concept@majority all', 'concept after']);
  });

  it('says mixed, and some, when a choice turns them around; components are no choice of the concept', () => {
    const [r] = robustnessOf(comparison([scope('a', 'concept', 'all', [-0.2, 0.1], 0.01), scope('a', 'concept', 'after', [0.3, 0.1], 0.5), scope('a', 'component:x', 'all', [-1, -1], 0.5)]), 'a', 0.05);
    assert.equal(r!.direction, 'mixed');
    assert.equal(r!.beyondChance, 'some');
    assert.equal(r!.choices.length, 2);
  });
});

describe('robustnessOf with no change', () => {
  it('lets a mean Δ of exactly 0 neither set nor break a direction', () => {
    const [r] = robustnessOf(comparison([scope('a', 'concept', 'all', [0.1, -0.1], 0.5), scope('a', 'concept', 'after', [0.2, 0.1], 0.5)]), 'a', 0.05);
    assert.equal(r!.direction, 'rose');
    const [none] = robustnessOf(comparison([scope('b', 'concept', 'all', [0, 0], 0.5)]), 'b', 0.05);
    assert.equal(none!.direction, 'unmeasured');
  });
});

describe('widthCorrelation', () => {
  it('is Spearman\'s ρ over concepts between width and mean Δ', () => {
    const scopes = [scope('a', 'concept', 'all', [0.1, 0.1], 1), scope('b', 'concept', 'all', [0.2, 0.2], 1), scope('c', 'concept', 'all', [0.3, 0.3], 1)];
    assert.deepEqual(widthCorrelation(comparison(scopes), new Map([['a', 3], ['b', 2], ['c', 1]])), { 'cpt:base': -1 });
    assert.deepEqual(widthCorrelation(comparison(scopes.slice(0, 2)), new Map([['a', 3], ['b', 2]])), { 'cpt:base': null });
  });
});
