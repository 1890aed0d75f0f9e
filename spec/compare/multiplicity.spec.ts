import assert from 'node:assert/strict';
import { benjaminiHochberg, countPValue, maxTPValues, permutationPValues } from '../../lib/compare/multiplicity.js';

const round = (values: ArrayLike<number>): number[] => Array.from(values as Float64Array, (v) => Math.round(v * 1e9) / 1e9);

describe('permutationPValues', () => {
  it('is (1 + #{|chance| ≥ |observed|}) / (1 + N), two-sided', () => {
    const chance = { values: Float64Array.of(0.1, -0.5, 0.2, 0.05), count: 4 };
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(0.3), chance)), [2 / 5]);
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(-0.6), chance)), [1 / 5]);
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(0), chance)), [1]);
  });

  it('counts a chance draw that could not be measured as at least as large: NaN never makes an observation rare', () => {
    assert.deepEqual(Array.from(permutationPValues(Float64Array.of(0.5), { values: Float64Array.of(Number.NaN, Number.NaN, 0.1), count: 3 })), [3 / 4]);
  });

  it('gives no p-value to a head that was not measured', () => {
    assert.ok(Number.isNaN(permutationPValues(Float64Array.of(Number.NaN), { values: Float64Array.of(1), count: 1 })[0]));
  });
});

describe('benjaminiHochberg', () => {
  it('matches R\'s p.adjust(method = "BH")', () => {
    // p.adjust(c(0.01, 0.04, 0.03, 0.005), "BH") = 0.02 0.04 0.04 0.02
    assert.deepEqual(round(benjaminiHochberg(Float64Array.of(0.01, 0.04, 0.03, 0.005))), [0.02, 0.04, 0.04, 0.02]);
    // p.adjust(c(0.5, 0.9, 0.01), "BH") = 0.75 0.90 0.03
    assert.deepEqual(round(benjaminiHochberg(Float64Array.of(0.5, 0.9, 0.01))), [0.75, 0.9, 0.03]);
  });

  it('leaves unmeasured heads out of the count of tests', () => {
    const q = benjaminiHochberg(Float64Array.of(0.01, Number.NaN, 0.04));
    assert.deepEqual(round([q[0]!, q[2]!]), [0.02, 0.04]);
    assert.ok(Number.isNaN(q[1]));
  });
});

describe('maxTPValues', () => {
  it('is the share of draws whose largest |statistic| over the heads reaches the head\'s', () => {
    // two heads, three draws with maxima 0.5, 2, 1
    const chance = { values: Float64Array.of(0.5, -0.2, 0.1, -2, 1, 0.3), count: 3 };
    assert.deepEqual(round(maxTPValues(Float64Array.of(1.5, 0.4), chance)), round([2 / 4, 4 / 4]));
  });
});

describe('maxTPValues with a head not measured', () => {
  it('leaves the unmeasured head out of the family, so its NaN draws do not shrink the others\' p', () => {
    // head 1 is NaN observed and in every draw; head 0 against draws 3, 4, 5, 6
    const chance = { values: Float64Array.of(3, Number.NaN, 4, Number.NaN, 5, Number.NaN, 6, Number.NaN), count: 4 };
    const p = maxTPValues(Float64Array.of(0.1, Number.NaN), chance);
    assert.equal(p[0], 1);
    assert.ok(Number.isNaN(p[1]));
  });
});

describe('countPValue', () => {
  it('scores each draw like the observation, by its rank among the draws of its head', () => {
    // one head, four draws |v| 1, 2, 3, 4: only the largest ranks below alpha = 0.25 (1/5 draws as large)
    const chance = { values: Float64Array.of(1, -2, 3, 4), count: 4 };
    const count = countPValue(Float64Array.of(0.2), chance, 0.25);
    assert.equal(count.observed, 1);
    assert.equal(count.expected, 1 / 4);
    // draws with at least one head beating chance: one of four
    assert.equal(count.pValue, (1 + 1) / (1 + 4));
  });
});
