import { mean, median, sampleKurtosis, sampleSkewness, sampleStandardDeviation } from 'simple-statistics';

/** How a set of per-head changes is distributed (scipy.stats definitions). */
export interface Distribution {
  n: number;
  mean: number;
  median: number;
  /** Sample standard deviation (n − 1). */
  sd: number;
  /** Fisher-Pearson skewness g1 = m3 / m2^1.5 (scipy.stats.skew, bias=True). */
  skewness: number;
  /** Adjusted Fisher-Pearson skewness G1 = g1 · √(n(n−1)) / (n−2) (bias=False). */
  skewnessAdjusted: number;
  /** Excess kurtosis g2 = m4 / m2² − 3 (scipy.stats.kurtosis, fisher=True, bias=True). */
  kurtosis: number;
  /** Adjusted excess kurtosis G2 = ((n+1)·g2 + 6)·(n−1) / ((n−2)(n−3)) (bias=False). */
  kurtosisAdjusted: number;
  /** Fraction of values above zero (heads whose share rose). */
  fractionRose: number;
}

/** Describes finite values; NaN fields where n is too small for a statistic. */
export function describeDistribution(values: ArrayLike<number>): Distribution {
  const x = Array.from(values).filter(Number.isFinite);
  const n = x.length;
  const nan = Number.NaN;
  // simple-statistics gives the adjusted G1 and G2; the biased g1 and g2 undo the adjustment.
  const G1 = n >= 3 ? sampleSkewness(x) : nan;
  const G2 = n >= 4 ? sampleKurtosis(x) : nan;
  return {
    n,
    mean: n > 0 ? mean(x) : nan,
    median: n > 0 ? median(x) : nan,
    sd: n > 1 ? sampleStandardDeviation(x) : nan,
    skewness: (G1 * (n - 2)) / Math.sqrt(n * (n - 1)),
    skewnessAdjusted: G1,
    kurtosis: (G2 * (n - 2) * (n - 3)) / ((n + 1) * (n - 1)) - 6 / (n + 1),
    kurtosisAdjusted: G2,
    fractionRose: n > 0 ? x.filter((v) => v > 0).length / n : nan,
  };
}

/** Mean of the finite values (heads not measured are NaN), NaN when there are none. */
export function finiteMean(values: ArrayLike<number>): number {
  let sum = 0;
  let n = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k]!;
    if (Number.isFinite(v)) {
      sum += v;
      n++;
    }
  }
  return n > 0 ? sum / n : Number.NaN;
}

/** Why a skewness is not defined: too few heads, or no spread among them. */
export const skewnessUndefined = (n: number): string => (n < 3 ? `${n} head${n === 1 ? '' : 's'}; it needs 3 or more` : 'every head changed alike: no spread');

/** A skewness as the console and the report write it; never NaN. */
export const skewnessWords = (skewness: number | null | undefined, n: number): string =>
  skewness === null || skewness === undefined || !Number.isFinite(skewness) ? `skewness not defined (${skewnessUndefined(n)})` : `skewness ${skewness.toFixed(2)}`;
