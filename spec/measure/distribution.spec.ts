import assert from 'node:assert/strict';
import { describeDistribution } from '../../lib/measure/distribution.js';

const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-9, `${actual} ≠ ${expected}`);

describe('describeDistribution', () => {
  // x = [1, 2, 3, 4, 10]: mean 4, deviations −3 −2 −1 0 6,
  // m2 = 50/5 = 10, m3 = 180/5 = 36, m4 = 1394/5 = 278.8
  const d = describeDistribution([1, 2, 3, 4, 10]);
  it('gives mean, median and the sample standard deviation', () => {
    assert.equal(d.n, 5);
    close(d.mean, 4);
    close(d.median, 3);
    close(d.sd, Math.sqrt(50 / 4));
  });
  it('gives the biased skewness g1 = m3 / m2^1.5 and the adjusted G1 = g1·√(n(n−1))/(n−2)', () => {
    close(d.skewness, 36 / Math.pow(10, 1.5));
    close(d.skewnessAdjusted, ((36 / Math.pow(10, 1.5)) * Math.sqrt(20)) / 3);
  });
  it('gives the excess kurtosis g2 = m4/m2² − 3 and the adjusted G2 = ((n+1)g2 + 6)(n−1)/((n−2)(n−3))', () => {
    close(d.kurtosis, 278.8 / 100 - 3);
    close(d.kurtosisAdjusted, ((6 * (278.8 / 100 - 3) + 6) * 4) / (3 * 2));
  });
  it('counts the fraction of values above zero', () => {
    close(describeDistribution([-1, 0, 2, 3]).fractionRose, 0.5);
  });
  it('has zero skewness for a symmetric sample', () => close(describeDistribution([-2, -1, 0, 1, 2]).skewness, 0));
  it('leaves out NaN and leaves statistics NaN that need more values', () => {
    const small = describeDistribution([1, Number.NaN, 2]);
    assert.equal(small.n, 2);
    assert.ok(Number.isNaN(small.skewness) && Number.isNaN(small.kurtosis));
  });
});
