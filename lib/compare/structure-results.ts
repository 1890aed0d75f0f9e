import type { ModelPair } from './pairs.js';
import { pairName } from './pairs.js';
import type { MeasuredSequence } from './compare.js';
import { structureAlignment, type ConceptStructure } from '../measure/structure.js';

export interface ModelStructure {
  alignment: number | null;
  declared: number | null;
  undeclared: number | null;
  pValue: number | null;
  permutations: number;
  alignmentPerLayer: Array<number | null>;
  /** Layer-averaged component × component attention, rows from, columns to. */
  matrix: Array<Array<number | null>>;
}

export interface StructureResult {
  components: string[];
  edges: Array<[string, string]>;
  sequences: string[];
  models: Record<string, ModelStructure>;
  changes: Record<string, { alignmentDelta: number | null }>;
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

/**
 * Whether attention follows a concept's declared structure: for each model, the
 * structure alignment of its component × component attention (layer-averaged and per
 * layer) with a permutation p-value over component labels, and its change per pair.
 */
export function compareStructure(sequences: readonly MeasuredSequence[], structure: ConceptStructure, models: readonly string[], pairs: readonly ModelPair[], seed: number): StructureResult | undefined {
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
    const overall = structureAlignment(mean, structure, 5040, seed);
    byModel[model] = {
      alignment: finite(overall.alignment),
      declared: finite(overall.declared),
      undeclared: finite(overall.undeclared),
      pValue: finite(overall.pValue),
      permutations: overall.permutations,
      alignmentPerLayer: Array.from({ length: layers }, (_, l) => finite(structureAlignment(perLayer.subarray(l * n * n, (l + 1) * n * n), structure, 1, seed).alignment)),
      matrix: Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => finite(mean[a * n + b]!))),
    };
  }
  const changes: StructureResult['changes'] = {};
  for (const pair of pairs) {
    const a = byModel[pair.after]?.alignment;
    const b = byModel[pair.before]?.alignment;
    changes[pairName(pair)] = { alignmentDelta: a !== null && a !== undefined && b !== null && b !== undefined ? a - b : null };
  }
  return { components: structure.components, edges: structure.edges, sequences: withParts.map((s) => s.sequence), models: byModel, changes };
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
