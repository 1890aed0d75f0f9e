import { randomLcg } from 'd3-random';
import MultivariateLinearRegression from 'ml-regression-multivariate-linear';
import { shuffle } from 'simple-statistics';

/**
 * Does attention follow a concept's declared structure more than token distance and
 * component size would make it? Causal attention falls with distance, and declared
 * relations often join neighbouring components, so a content-free recency pattern
 * would "align" with them. Attention between each pair of components is first
 * regressed on log distance and log size pooled over every structured concept; the
 * statistic is the mean residual on declared pairs minus the mean on the others, and
 * its null relabels each concept's components (the same relabelling in each of its
 * sequences).
 */

/** One pair of components in one sequence. */
export interface ComponentPair {
  /** Indices into the concept's component list, a < b. */
  a: number;
  b: number;
  /** Tokens between the components' centres. */
  distance: number;
  /** |a| · |b| in tokens. */
  sizes: number;
  /** M[a][b] + M[b][a] (or its change between two models). */
  value: number;
}

export interface ConceptPairs {
  concept: string;
  components: number;
  /** Declared relations as `a|b` with a < b. */
  declared: ReadonlySet<string>;
  pairs: readonly ComponentPair[];
}

export interface StructureTest {
  /** Mean distance-adjusted attention on declared pairs minus on the others. */
  statistic: number;
  /** p = (1 + #{relabelled ≥ observed}) / (1 + N); null when alpha is out of reach. */
  pValue: number | null;
  /** The smallest p these relabellings can give. */
  smallestPossible: number;
  draws: number;
  concepts: number;
  pairs: number;
}

export interface StructureTestOptions {
  /** Relabellings at most (every one when they are fewer). */
  permutations: number;
  seed: number;
  alpha: number;
}

const features = (p: ComponentPair): number[] => {
  const d = Math.log(Math.max(1, p.distance));
  // attention falls with distance in no one shape (exponential, power law): a few terms of log distance fit them all
  return [d, d * d, 1 / Math.max(1, p.distance), Math.log(Math.max(1, p.sizes))];
};

/** Residuals of `pairs` from value ~ log distance + log size fitted on `reference` (the mean alone when it has too few pairs). */
function residuals(pairs: readonly ComponentPair[], reference: readonly ComponentPair[]): number[] {
  if (reference.length < 5) {
    const mean = reference.reduce((s, p) => s + p.value, 0) / Math.max(1, reference.length);
    return pairs.map((p) => p.value - mean);
  }
  const fit = new MultivariateLinearRegression(reference.map(features), reference.map((p) => [p.value]));
  return pairs.map((p) => p.value - fit.predict(features(p))[0]!);
}

const factorial = (n: number): number => (n <= 1 ? 1 : n * factorial(n - 1));

/** Every ordering of 0..n−1. */
function orderings(n: number): number[][] {
  if (n <= 1) return [[0]];
  return orderings(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

/** The statistic with each concept's components relabelled by `orders[c]`. */
function statistic(concepts: readonly ConceptPairs[], r: readonly number[][], orders: readonly (readonly number[])[]): number {
  let inSum = 0;
  let inCount = 0;
  let outSum = 0;
  let outCount = 0;
  concepts.forEach((c, k) => {
    const order = orders[k]!;
    c.pairs.forEach((p, i) => {
      const [a, b] = [order[p.a]!, order[p.b]!].sort((x, y) => x - y);
      if (c.declared.has(`${a}|${b}`)) {
        inSum += r[k]![i]!;
        inCount++;
      } else {
        outSum += r[k]![i]!;
        outCount++;
      }
    });
  });
  return inCount > 0 && outCount > 0 ? inSum / inCount - outSum / outCount : Number.NaN;
}

const measuredPairs = (c: ConceptPairs): ConceptPairs => ({ ...c, pairs: c.pairs.filter((p) => Number.isFinite(p.value)) });

/**
 * The distance-matched structure test over `concepts` (one, or all of them pooled),
 * with distance and size fitted on the pairs of `reference` (every structured concept,
 * so that a concept alone is adjusted the same way as in the pool).
 */
export function structureTest(concepts: readonly ConceptPairs[], options: StructureTestOptions, reference: readonly ConceptPairs[] = concepts): StructureTest | undefined {
  const finitePairs = concepts.map(measuredPairs).filter((c) => c.pairs.length > 0 && c.declared.size > 0);
  const all = finitePairs.flatMap((c) => c.pairs);
  if (all.length === 0) return undefined;
  const pooled = residuals(all, reference.flatMap((c) => measuredPairs(c).pairs));
  let offset = 0;
  const r = finitePairs.map((c) => pooled.slice(offset, (offset += c.pairs.length)));
  const identity = finitePairs.map((c) => Array.from({ length: c.components }, (_, k) => k));
  const observed = statistic(finitePairs, r, identity);
  const total = finitePairs.reduce((n, c) => n * factorial(c.components), 1);
  const exhaustive = total <= options.permutations;
  let asLarge = 0;
  let draws: number;
  if (exhaustive) {
    // every combination of one relabelling per concept, the identity among them
    const perConcept = finitePairs.map((c) => orderings(c.components));
    draws = total;
    for (let d = 0; d < total; d++) {
      let rest = d;
      const orders = perConcept.map((list) => {
        const order = list[rest % list.length]!;
        rest = Math.floor(rest / list.length);
        return order;
      });
      if (!(statistic(finitePairs, r, orders) < observed - 1e-12)) asLarge++;
    }
  } else {
    const random = randomLcg(options.seed);
    draws = options.permutations;
    asLarge = 1;
    for (let d = 0; d < draws; d++) {
      const orders = identity.map((order) => shuffle([...order], random));
      if (!(statistic(finitePairs, r, orders) < observed - 1e-12)) asLarge++;
    }
  }
  // Exhaustively the identity is one of the N, so #/N is (1 + #others)/(1 + N − 1).
  const pValue = exhaustive ? asLarge / draws : asLarge / (1 + draws);
  const smallestPossible = exhaustive ? 1 / draws : 1 / (1 + draws);
  return {
    statistic: observed,
    pValue: smallestPossible >= options.alpha || Number.isNaN(observed) ? null : pValue,
    smallestPossible,
    draws,
    concepts: finitePairs.length,
    pairs: all.length,
  };
}
