import { randomLcg } from 'd3-random';
import { shuffle } from 'simple-statistics';

/** A concept's declared structure: component labels and the pairs said to relate. */
export interface ConceptStructure {
  components: string[];
  edges: Array<[string, string]>;
}

export interface StructureAlignment {
  /** Mean attention between declared pairs minus mean between the other pairs. */
  alignment: number;
  declared: number;
  undeclared: number;
  /** One-sided permutation p-value over component labels: how often a relabelling aligns as well. */
  pValue: number;
  permutations: number;
}

/** Attention between two components in either direction: M[a][b] + M[b][a] (causality leaves one near zero). */
const between = (matrix: Float64Array, n: number, a: number, b: number): number => matrix[a * n + b]! + matrix[b * n + a]!;

function alignmentOf(matrix: Float64Array, n: number, declared: ReadonlySet<string>, order: readonly number[]): { declared: number; undeclared: number } {
  let inSum = 0;
  let inCount = 0;
  let outSum = 0;
  let outCount = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const v = between(matrix, n, order[a]!, order[b]!);
      if (!Number.isFinite(v)) continue;
      if (declared.has(`${a}|${b}`)) {
        inSum += v;
        inCount++;
      } else {
        outSum += v;
        outCount++;
      }
    }
  }
  return { declared: inCount > 0 ? inSum / inCount : Number.NaN, undeclared: outCount > 0 ? outSum / outCount : Number.NaN };
}

function permutations(n: number): number[][] {
  if (n <= 1) return [[0]];
  return permutations(n - 1).flatMap((p) => Array.from({ length: n }, (_, k) => [...p.slice(0, k), n - 1, ...p.slice(k)]));
}

/**
 * Structure alignment of a component × component attention matrix (`[a × n + b]`):
 * mean attention between declared component pairs minus the mean between undeclared
 * pairs, and a permutation test that relabels the components (every relabelling when
 * n! ≤ `draws`, else `draws` seeded ones): p = #{relabelled ≥ observed} / N.
 */
export function structureAlignment(matrix: Float64Array, structure: ConceptStructure, draws = 5040, seed = 1): StructureAlignment {
  const n = structure.components.length;
  const index = new Map(structure.components.map((c, k) => [c, k]));
  const declared = new Set<string>();
  for (const [x, y] of structure.edges) {
    const a = index.get(x);
    const b = index.get(y);
    if (a !== undefined && b !== undefined && a !== b) declared.add(`${Math.min(a, b)}|${Math.max(a, b)}`);
  }
  const identity = Array.from({ length: n }, (_, k) => k);
  const observed = alignmentOf(matrix, n, declared, identity);
  const score = observed.declared - observed.undeclared;
  let orders: number[][];
  let factorial = 1;
  for (let k = 2; k <= n; k++) factorial *= k;
  if (factorial <= draws) orders = permutations(n);
  else {
    const random = randomLcg(seed);
    orders = Array.from({ length: draws }, () => shuffle([...identity], random));
  }
  let asLarge = 0;
  for (const order of orders) {
    const a = alignmentOf(matrix, n, declared, order);
    if (a.declared - a.undeclared >= score - 1e-12) asLarge++;
  }
  return { alignment: score, declared: observed.declared, undeclared: observed.undeclared, pValue: asLarge / orders.length, permutations: orders.length };
}
