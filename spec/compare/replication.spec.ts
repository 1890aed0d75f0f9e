import assert from 'node:assert/strict';
import { replicate } from '../../lib/compare/replication.js';

// Units of two layers × one head whose mean over heads is the given value.
const units = (...means: number[]): Float64Array[] => means.map((m) => Float64Array.of(m - 0.5, m + 0.5));
// Each unit's class-matched effect (its mean z over heads).
const effects = (...values: number[]): number[] => values;
const options = { resamples: 1000, seed: 1, alpha: 0.05 };

describe('replicate', () => {
  it('sign-flips the units\' effects over every pattern of signs: |sum of six ±1| ≥ 4 in 14 of 64', () => {
    const r = replicate('sequence', units(1, 2, 3, 4, 5, 6), effects(1, 1, 1, 1, 1, -1), 2, options);
    assert.equal(r.signFlip.draws, 64);
    assert.equal(r.signFlip.pValue, 14 / 64);
  });

  it('gives 2 / 2^n when every unit moved beyond its controls the same way', () => {
    assert.equal(replicate('concept', units(1, 2, 3, 4, 5, 6), effects(1, 2, 3, 4, 5, 6), 2, options).signFlip.pValue, 2 / 64);
  });

  it('tests the effect beyond the controls, not Δ: units that all rose, no more than their controls, replicate nothing', () => {
    assert.equal(replicate('concept', units(1, 2, 3, 4, 5, 6), effects(1, -1, 1, -1, 1, -1), 2, options).signFlip.pValue, 1);
  });

  it('leaves a unit with no measured head out of the sign flips, instead of letting its NaN make p 0', () => {
    const nan = Float64Array.of(Number.NaN, Number.NaN);
    const r = replicate('concept', [...units(1, 2, 3, 4, 5, 6), nan], [...effects(1, 2, 3, 4, 5, 6), Number.NaN], 2, options);
    assert.equal(r.signFlip.pValue, 2 / 64);
  });

  it('says when alpha is out of reach instead of printing a p: three sequences can give no less than 0.25', () => {
    const r = replicate('sequence', units(1, 2, 3), effects(1, 2, 3), 2, options);
    assert.equal(r.signFlip.pValue, null);
    assert.equal(r.signFlip.smallestPossible, 0.25);
  });

  it('bootstraps intervals inside the range of the units, a point when they agree', () => {
    const r = replicate('sequence', units(-0.2, 0.1, 0.4, 0.7, 0.5), effects(0, 0, 0, 0, 0), 2, options);
    assert.ok(r.meanDelta.low! >= -0.2 && r.meanDelta.high! <= 0.7 && r.meanDelta.low! < r.meanDelta.high!);
    // layer 0 holds m − 0.5 of each unit
    assert.ok(r.deltaPerLayer[0]!.low! >= -0.7 && r.deltaPerLayer[0]!.high! <= 0.2);
    const same = replicate('sequence', units(0.3, 0.3, 0.3, 0.3, 0.3), effects(0, 0, 0, 0, 0), 2, options);
    assert.ok(Math.abs(same.meanDelta.low! - 0.3) < 1e-12 && Math.abs(same.meanDelta.high! - 0.3) < 1e-12);
  });

  it('has no interval from fewer than five units: three sequences give only ten distinct resamples', () => {
    assert.deepEqual(replicate('sequence', units(0.3), effects(0), 2, options).meanDelta, { low: null, high: null });
    assert.deepEqual(replicate('sequence', units(0.1, 0.2, 0.3), effects(0, 0, 0), 2, options).meanDelta, { low: null, high: null });
  });
});
