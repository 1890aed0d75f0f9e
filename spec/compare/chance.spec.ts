import assert from 'node:assert/strict';
import { chanceMeans, permutationPValues } from '../../lib/compare/chance.js';

describe('chanceMeans', () => {
  it('enumerates every combination of one control per sequence when they are few', () => {
    // one head; sequence a has controls with Δ 0.1 and 0.3, sequence b has 0.0, 0.2 and 0.4
    const a = { values: Float64Array.of(0.1, 0.3), controls: 2, observed: Float64Array.of(0) };
    const b = { values: Float64Array.of(0, 0.2, 0.4), controls: 3, observed: Float64Array.of(0) };
    const chance = chanceMeans([[a, b]], 1, 100, 1)!;
    assert.equal(chance.count, 6);
    const means = Array.from(chance.values, (v) => Math.round(v * 1000) / 1000).sort((x, y) => x - y);
    // (0.1+0)/2, (0.1+0.2)/2, (0.1+0.4)/2, (0.3+0)/2, (0.3+0.2)/2, (0.3+0.4)/2
    assert.deepEqual(means, [0.05, 0.15, 0.15, 0.25, 0.25, 0.35]);
  });

  it('weighs each group (concept) equally, whatever its number of sequences', () => {
    const one = { values: Float64Array.of(1), controls: 1, observed: Float64Array.of(0) };
    const zero = { values: Float64Array.of(0), controls: 1, observed: Float64Array.of(0) };
    const chance = chanceMeans([[one], [zero, zero, zero]], 1, 100, 1)!;
    assert.deepEqual(Array.from(chance.values), [0.5]);
  });

  it('draws seeded combinations when there are more than allowed, the same for the same seed', () => {
    const many = Array.from({ length: 6 }, () => ({ values: Float64Array.from({ length: 10 }, (_, k) => k), controls: 10, observed: Float64Array.of(0) }));
    const first = chanceMeans([many], 1, 50, 3)!;
    assert.equal(first.count, 50);
    assert.deepEqual(chanceMeans([many], 1, 50, 3)!.values, first.values);
    assert.notDeepEqual(chanceMeans([many], 1, 50, 4)!.values, first.values);
  });

  it('keeps the observed change of a sequence with no control in every draw, and gives no baseline when none has one', () => {
    const fixed = { values: new Float64Array(0), controls: 0, observed: Float64Array.of(0.5) };
    const free = { values: Float64Array.of(0.1, 0.3), controls: 2, observed: Float64Array.of(0) };
    assert.deepEqual(Array.from(chanceMeans([[fixed, free]], 1, 10, 1)!.values, (v) => Math.round(v * 1000) / 1000), [0.3, 0.4]);
    assert.equal(chanceMeans([[fixed]], 1, 10, 1), undefined);
  });
});

describe('permutationPValues', () => {
  it('is (1 + #{|chance| ≥ |observed|}) / (1 + N), two-sided', () => {
    const chance = { values: Float64Array.of(0.1, -0.5, 0.2, 0.05), count: 4 };
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(0.3), chance)), [2 / 5]);
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(-0.6), chance)), [1 / 5]);
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(0), chance)), [1]);
  });
});
