import assert from 'node:assert/strict';
import { benjaminiHochberg } from '../../lib/compare/multiplicity.js';

const round = (values: ArrayLike<number>): number[] => Array.from(values as Float64Array, (v) => Math.round(v * 1e9) / 1e9);

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
