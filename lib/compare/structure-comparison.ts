import type { ModelPair } from '../options/pairs.js';
import { pairName } from '../options/pairs.js';
import type { MeasuredSequence } from './compare.js';
import { declaredPairs, structureAlignment, type ConceptStructure } from '../measure/structure.js';
import { structureTest, type ComponentPair, type ConceptPairs, type StructureTest, type StructureTestOptions } from './structure-test.js';

/** Mean token position of a span. */
const centre = (tokens: readonly number[]): number => tokens.reduce((sum, t) => sum + t, 0) / tokens.length;

export interface ModelStructure {
  alignment: number | null;
  declared: number | null;
  undeclared: number | null;
  /** The distance-matched test of this concept alone (see structureTest); its p is null when alpha is out of reach. */
  test: StructureTest | null;
  alignmentPerLayer: Array<number | null>;
  /** Layer-averaged component × component attention, rows from, columns to. */
  matrix: Array<Array<number | null>>;
}

export interface StructureResult {
  components: string[];
  edges: Array<[string, string]>;
  sequences: string[];
  models: Record<string, ModelStructure>;
  changes: Record<string, { alignmentDelta: number | null; test: StructureTest | null }>;
  /** Why the structure test can say nothing of this concept, where it cannot: no undeclared pair to contrast the declared ones with. */
  note?: string;
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** The concept's component matrix per layer, averaged over the sequences that have each pair of components. */
function conceptMatrices(sequences: readonly MeasuredSequence[], model: string, components: readonly string[], layers: number): Float64Array {
  const n = components.length;
  const sum = new Float64Array(layers * n * n);
  const count = new Float64Array(layers * n * n);
  for (const s of sequences) {
    const parts = s.byModel[model]?.components;
    if (!parts) continue;
    const m = parts.labels.length;
    for (let l = 0; l < layers; l++) {
      parts.labels.forEach((from, a) => {
        parts.labels.forEach((to, b) => {
          const A = components.indexOf(from);
          const B = components.indexOf(to);
          const v = parts.perLayer[(l * m + a) * m + b]!;
          if (A < 0 || B < 0 || !Number.isFinite(v)) return;
          sum[(l * n + A) * n + B]! += v;
          count[(l * n + A) * n + B]! += 1;
        });
      });
    }
  }
  return sum.map((v, k) => (count[k]! > 0 ? v / count[k]! : Number.NaN));
}

/** M[a][b] + M[b][a] of one sequence under one model, averaged over layers; NaN when it lacks a component. */
export type PairValue = (sequence: MeasuredSequence, a: string, b: string) => number;

export const modelValue =
  (model: string): PairValue =>
  (sequence, a, b) => {
    const parts = sequence.byModel[model]?.components;
    if (!parts) return Number.NaN;
    const m = parts.labels.length;
    const A = parts.labels.indexOf(a);
    const B = parts.labels.indexOf(b);
    if (A < 0 || B < 0) return Number.NaN;
    const layers = parts.perLayer.length / (m * m);
    let sum = 0;
    for (let l = 0; l < layers; l++) sum += parts.perLayer[(l * m + A) * m + B]! + parts.perLayer[(l * m + B) * m + A]!;
    return sum / layers;
  };

export const changeValue =
  (pair: ModelPair): PairValue =>
  (sequence, a, b) =>
    modelValue(pair.after)(sequence, a, b) - modelValue(pair.before)(sequence, a, b);

/** Every pair of components in each sequence of a concept, with its distance, sizes and value. */
export function structurePairs(concept: string, sequences: readonly MeasuredSequence[], structure: ConceptStructure, value: PairValue): ConceptPairs {
  const index = new Map(structure.components.map((c, k) => [c, k]));
  const pairs: ComponentPair[] = [];
  for (const sequence of sequences) {
    const targets = Object.values(sequence.byModel)[0]?.targets ?? [];
    const tokensOf = (label: string): number[] | undefined => targets.find((t) => t.name === `component:${label}`)?.tokens;
    structure.components.forEach((x, a) => {
      structure.components.forEach((y, b) => {
        const tx = tokensOf(x);
        const ty = tokensOf(y);
        if (b <= a || !tx?.length || !ty?.length) return;
        pairs.push({ a, b, distance: Math.abs(centre(tx) - centre(ty)), sizes: tx.length * ty.length, value: value(sequence, x, y) });
      });
    });
  }
  return { concept, components: structure.components.length, declared: declaredPairs(structure, index), pairs };
}

export interface StructuredConcept {
  id: string;
  sequences: readonly MeasuredSequence[];
  structure: ConceptStructure;
}

/** The distance-matched structure tests, per value (a model's attention or a pair's change): each concept alone and all pooled. */
export interface StructureTests {
  perConcept: Map<string, Map<string, StructureTest | undefined>>;
  pooled: Record<string, StructureTest | null>;
}

export function testStructures(concepts: readonly StructuredConcept[], models: readonly string[], pairs: readonly ModelPair[], options: StructureTestOptions): StructureTests {
  const values = new Map<string, PairValue>([...models.map((m): [string, PairValue] => [m, modelValue(m)]), ...pairs.map((p): [string, PairValue] => [pairName(p), changeValue(p)])]);
  const perConcept = new Map(concepts.map((c) => [c.id, new Map<string, StructureTest | undefined>()]));
  const pooled: StructureTests['pooled'] = {};
  for (const [name, value] of values) {
    const all = concepts.map((c) => structurePairs(c.id, c.sequences, c.structure, value));
    all.forEach((c) => perConcept.get(c.concept)!.set(name, structureTest([c], options, all)));
    pooled[name] = structureTest(all, options) ?? null;
  }
  return { perConcept, pooled };
}

/**
 * Whether attention follows a concept's declared structure: for each model, the
 * structure alignment of its component × component attention (layer-averaged and per
 * layer) with a permutation p-value over component labels, and its change per pair.
 */
export function compareStructure(sequences: readonly MeasuredSequence[], structure: ConceptStructure, models: readonly string[], pairs: readonly ModelPair[], tests: (value: string) => StructureTest | undefined): StructureResult | undefined {
  const withParts = sequences.filter((s) => Object.values(s.byModel).some((m) => m.components));
  if (withParts.length === 0 || structure.edges.length === 0) return undefined;
  const layers = Object.values(withParts[0]!.byModel)[0]!.layers;
  const n = structure.components.length;
  const byModel: Record<string, ModelStructure> = {};
  for (const model of models) {
    const perLayer = conceptMatrices(withParts, model, structure.components, layers);
    const mean = new Float64Array(n * n).map((_, k) => {
      let s = 0;
      let c = 0;
      for (let l = 0; l < layers; l++) {
        const v = perLayer[l * n * n + k]!;
        if (Number.isFinite(v)) {
          s += v;
          c++;
        }
      }
      return c > 0 ? s / c : Number.NaN;
    });
    const overall = structureAlignment(mean, structure);
    byModel[model] = {
      alignment: finite(overall.alignment),
      declared: finite(overall.declared),
      undeclared: finite(overall.undeclared),
      test: tests(model) ?? null,
      alignmentPerLayer: Array.from({ length: layers }, (_, l) => finite(structureAlignment(perLayer.subarray(l * n * n, (l + 1) * n * n), structure).alignment)),
      matrix: Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => finite(mean[a * n + b]!))),
    };
  }
  const changes: StructureResult['changes'] = {};
  for (const pair of pairs) {
    const a = byModel[pair.after]?.alignment;
    const b = byModel[pair.before]?.alignment;
    changes[pairName(pair)] = {
      alignmentDelta: a !== null && a !== undefined && b !== null && b !== undefined ? a - b : null,
      test: tests(pairName(pair)) ?? null,
    };
  }
  const note = uncontrastedNote(structurePairs('', withParts, structure, () => 0));
  return { components: structure.components, edges: structure.edges, sequences: withParts.map((s) => s.sequence), models: byModel, changes, ...(note ? { note } : {}) };
}

/** The structure test contrasts declared pairs with the others its sequences hold: without any other, it says nothing. */
function uncontrastedNote(pairs: ConceptPairs): string | undefined {
  if (pairs.pairs.some((p) => !pairs.declared.has(`${p.a}|${p.b}`))) return undefined;
  return 'every pair of components its sequences hold is declared, so the structure test has no undeclared pair to contrast them with and its p says nothing; declare a third component, or annotate pairs the structure does not relate';
}

export interface WordingContrast {
  legal: string;
  plain: string;
  /** Per model: mean concept share (over heads) of the legal wording, of the plain one, and legal − plain. */
  models: Record<string, { legal: number | null; plain: number | null; contrast: number | null }>;
  changes: Record<string, { contrastDelta: number | null }>;
}

/**
 * Legal vs plain wording: the concept share on the legal term minus the share on its
 * plain paraphrase in the control sequence, per model, and its change per pair.
 */
export function compareWording(
  paraphrases: ReadonlyArray<{ legal: string; plain: string }>,
  meanShare: (sequence: string, model: string) => number,
  models: readonly string[],
  pairs: readonly ModelPair[],
): WordingContrast[] {
  return paraphrases.map(({ legal, plain }) => {
    const byModel: WordingContrast['models'] = {};
    for (const model of models) {
      const l = meanShare(legal, model);
      const p = meanShare(plain, model);
      byModel[model] = { legal: finite(l), plain: finite(p), contrast: finite(l - p) };
    }
    const changes: WordingContrast['changes'] = {};
    for (const pair of pairs) {
      const a = byModel[pair.after]?.contrast;
      const b = byModel[pair.before]?.contrast;
      changes[pairName(pair)] = { contrastDelta: a !== null && a !== undefined && b !== null && b !== undefined ? a - b : null };
    }
    return { legal, plain, models: byModel, changes };
  });
}
