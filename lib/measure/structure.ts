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
}

/** Attention between two components in either direction: M[a][b] + M[b][a] (causality leaves one near zero). */
const between = (matrix: Float64Array, n: number, a: number, b: number): number => matrix[a * n + b]! + matrix[b * n + a]!;

function alignmentOf(matrix: Float64Array, n: number, declared: ReadonlySet<string>): { declared: number; undeclared: number } {
  let inSum = 0;
  let inCount = 0;
  let outSum = 0;
  let outCount = 0;
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) {
      const v = between(matrix, n, a, b);
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

/**
 * Structure alignment of a component × component attention matrix (`[a × n + b]`):
 * mean attention between declared component pairs minus the mean between undeclared
 * pairs. Whether it is more than distance and size would give is `structureTest`'s.
 */
export function structureAlignment(matrix: Float64Array, structure: ConceptStructure): StructureAlignment {
  const index = new Map(structure.components.map((c, k) => [c, k]));
  const observed = alignmentOf(matrix, structure.components.length, declaredPairs(structure, index));
  return { alignment: observed.declared - observed.undeclared, declared: observed.declared, undeclared: observed.undeclared };
}

/** The declared relations as `a|b` with a < b, indices into `components`. */
export function declaredPairs(structure: ConceptStructure, index: ReadonlyMap<string, number>): Set<string> {
  const declared = new Set<string>();
  for (const [x, y] of structure.edges) {
    const a = index.get(x);
    const b = index.get(y);
    if (a !== undefined && b !== undefined && a !== b) declared.add(`${Math.min(a, b)}|${Math.max(a, b)}`);
  }
  return declared;
}
