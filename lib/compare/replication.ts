import { randomLcg } from 'd3-random';
import { quantile } from 'simple-statistics';
import { describeDistribution, finiteMean } from '../measure/distribution.js';

/** A 95 % percentile interval; null ends when there are too few units to resample. */
export interface Interval {
  low: number | null;
  high: number | null;
}

/**
 * How far the headline numbers would move with other sequences (for a concept) or
 * other concepts (overall): the unit of replication. Sequences of one concept share
 * its term, so they replicate the wording around it, not the concept.
 */
export interface Replication {
  unit: 'sequence' | 'concept';
  units: number;
  /** Seeded bootstrap over the units: mean Δ over heads, skewness of Δ over heads, mean Δ of each layer. */
  meanDelta: Interval;
  skewness: Interval;
  deltaPerLayer: Interval[];
  /**
   * Sign-flip test that the units' class-matched effect (the mean over heads of their z
   * against controls of their class) is centred on zero, so that what replicates is the
   * concept's change beyond comparable words, not a change of every token: p = (1 +
   * #{|flipped mean| ≥ |mean|}) / (1 + N) over every sign pattern (or seeded draws). Null
   * when alpha is out of reach: with n units the smallest p is 2 / 2^n (0.25 for three
   * sequences).
   */
  signFlip: { pValue: number | null; smallestPossible: number; draws: number };
}

export interface ReplicationOptions {
  resamples: number;
  seed: number;
  alpha: number;
}

/** Mean over the chosen units, per head. */
function meanOfUnits(units: readonly Float64Array[], chosen: readonly number[]): Float64Array {
  const out = new Float64Array(units[0]!.length);
  for (const u of chosen) for (let k = 0; k < out.length; k++) out[k]! += units[u]![k]! / chosen.length;
  return out;
}

function interval(values: number[]): Interval {
  const finite = values.filter(Number.isFinite);
  return finite.length < 2 ? { low: null, high: null } : { low: quantile(finite, 0.025), high: quantile(finite, 0.975) };
}

/**
 * Below this many units a percentile bootstrap only reshuffles a handful of values (three
 * sequences give ten distinct resamples): no interval is given.
 */
export const MIN_BOOTSTRAP_UNITS = 5;

/** Bootstrap intervals over units, each unit a per-head Δ array `[layer × heads + head]`. */
function bootstrap(units: readonly Float64Array[], layers: number, options: ReplicationOptions): Pick<Replication, 'meanDelta' | 'skewness' | 'deltaPerLayer'> {
  const none = { meanDelta: { low: null, high: null }, skewness: { low: null, high: null }, deltaPerLayer: Array.from({ length: layers }, () => ({ low: null, high: null })) };
  if (units.length < MIN_BOOTSTRAP_UNITS) return none;
  const random = randomLcg(options.seed);
  const heads = units[0]!.length / layers;
  const means: number[] = [];
  const skews: number[] = [];
  const perLayer: number[][] = Array.from({ length: layers }, () => []);
  for (let r = 0; r < options.resamples; r++) {
    const chosen = units.map(() => Math.floor(random() * units.length));
    const delta = meanOfUnits(units, chosen);
    means.push(finiteMean(delta));
    skews.push(describeDistribution(delta).skewness);
    for (let l = 0; l < layers; l++) perLayer[l]!.push(finiteMean(delta.subarray(l * heads, (l + 1) * heads)));
  }
  return { meanDelta: interval(means), skewness: interval(skews), deltaPerLayer: perLayer.map(interval) };
}

/** Sign-flip test on the units' effects. */
function signFlip(effects: readonly number[], options: ReplicationOptions): Replication['signFlip'] {
  // a unit with no measured head is no unit: it would make every flipped mean NaN
  const values = effects.filter(Number.isFinite);
  const n = values.length;
  const smallestPossible = n === 0 ? 1 : Math.max(2 / 2 ** n, 1 / (1 + options.resamples));
  const observed = Math.abs(finiteMean(values));
  const exhaustive = 2 ** n <= options.resamples;
  const draws = exhaustive ? 2 ** n : options.resamples;
  const random = randomLcg(options.seed + 1);
  let asLarge = 0;
  for (let d = 0; d < draws; d++) {
    let sum = 0;
    for (let k = 0; k < n; k++) sum += (exhaustive ? (d >> k) & 1 : random() < 0.5) ? -values[k]! : values[k]!;
    if (Math.abs(sum / n) >= observed - 1e-15) asLarge++;
  }
  // Exhaustively the identity pattern is among the draws, so p = #/2^n; drawn, p = (1 + #)/(1 + N).
  const pValue = exhaustive ? asLarge / draws : (1 + asLarge) / (1 + draws);
  return { pValue: smallestPossible >= options.alpha || Number.isNaN(observed) ? null : pValue, smallestPossible, draws };
}

/** Bootstrap intervals of Δ (each unit a per-head array) and a sign-flip test of the units' effects (each a mean over heads). */
export function replicate(unit: Replication['unit'], units: readonly Float64Array[], effects: readonly number[], layers: number, options: ReplicationOptions): Replication {
  return { unit, units: units.length, ...bootstrap(units, layers, options), signFlip: signFlip(effects, options) };
}

/** The mean over groups of each group's mean, element by element. */
export function nestedMean(groups: ReadonlyArray<readonly Float64Array[]>): Float64Array {
  const length = groups[0]?.[0]?.length ?? 0;
  const out = new Float64Array(length);
  for (const group of groups) for (const array of group) for (let k = 0; k < length; k++) out[k]! += array[k]! / group.length / groups.length;
  return out;
}

/** Resamples for the bootstrap intervals: enough for 95 % percentile ends, cheap at thousands of heads. */
const BOOTSTRAP_RESAMPLES = 1000;

/**
 * Replication of a scope's Δ: over a concept's sequences, or over the concepts when there
 * are several groups. `perSequence`: each group's Δ per sequence; `effects`: the
 * class-matched effect of each, per head.
 */
export function shareReplication(perSequence: ReadonlyArray<readonly Float64Array[]>, effects: ReadonlyArray<readonly Float64Array[]>, layers: number, options: { seed: number; alpha: number }): Replication | undefined {
  const settings = { resamples: BOOTSTRAP_RESAMPLES, seed: options.seed, alpha: options.alpha };
  if (perSequence.length > 1) {
    const conceptEffects = effects.filter((e) => e.length > 0).map((e) => finiteMean(nestedMean([e])));
    return replicate('concept', perSequence.map((group) => nestedMean([group])), conceptEffects, layers, settings);
  }
  const sequences = perSequence[0] ?? [];
  return sequences.length > 1 ? replicate('sequence', sequences, (effects[0] ?? []).map(finiteMean), layers, settings) : undefined;
}
