import { isAttentionLens } from '../measure/measure-sequence.js';
import { badInput } from '../errors.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import type { ModelPair } from '../options/pairs.js';
import type { StructureTestOptions } from './structure-test.js';
import { compareModels, type Comparison, type MeasuredSequence } from './compare.js';
import { robustnessOf, widthCorrelation, type Robustness } from './robustness.js';
import { compareStructure, compareWording, testStructures, type StructuredConcept, type StructureResult, type StructureTests, type WordingContrast } from './structure-comparison.js';

/** What a run knows of a concept beyond its sequences: its declared components and their structure. */
export interface ConceptDeclarations {
  id: string;
  components?: string[];
  structure?: Array<[string, string]>;
}

export interface ComparisonOptions extends StructureTestOptions {
  models: readonly string[];
  pairs: readonly ModelPair[];
  references: ReferencePlan;
  /** The query set legal and plain wording are contrasted under. */
  querySet: string;
}

/** Everything compare concludes from the measured sequences, before any of it is written. */
export interface ComparisonAnalysis {
  comparison: Comparison;
  /** Per concept with declared structure: alignment and its tests; the pooled test over them. */
  structures: Map<string, StructureResult>;
  structured: StructuredConcept[];
  structureTests: StructureTests;
  /** Per concept: legal wording against its plain paraphrase. */
  wording: Map<string, WordingContrast[]>;
  /** Per concept (and `*`): whether its conclusions hold under every choice measured. */
  robustness: Map<string, Robustness[]>;
  /** Spearman's ρ over concepts between width in tokens and mean Δ, per pair. */
  widthCorrelation: Record<string, number | null>;
  /** Each concept's width in tokens, the mean over its sequences of legal wording. */
  widths: Map<string, number>;
}

/** Each concept's width in tokens (by overlap), the mean over its sequences of legal wording. */
function conceptWidths(measured: readonly MeasuredSequence[]): Map<string, number> {
  const widths = new Map<string, number[]>();
  for (const m of measured.filter((x) => !x.paraphraseOf)) {
    const concept = Object.values(m.byModel)[0]?.targets.find((t) => t.name === 'concept');
    if (concept) widths.set(m.concept, [...(widths.get(m.concept) ?? []), concept.tokens.length]);
  }
  return new Map([...widths].map(([id, list]) => [id, list.reduce((a, b) => a + b, 0) / list.length]));
}

/** The mean share over heads of a sequence's concept under the primary query set, sink included. */
function meanShareOf(comparison: Comparison, querySet: string, concept: string): (sequence: string, model: string) => number {
  return (sequence, model) => {
    const scope = comparison.sequences.find((s) => s.scope === concept && s.sequences[0] === `${concept}/${sequence}` && s.variant.target === 'concept' && s.variant.querySet === querySet && s.variant.sink === 'include' && isAttentionLens(s.variant));
    const share = scope?.models.find((m) => m.model === model)?.share;
    return share ? share.reduce((a, b) => a + b, 0) / share.length : Number.NaN;
  };
}

/**
 * Compares the measured models (per head, per concept and overall, each target judged
 * against its reference plan), then tests declared structure, contrasts legal with plain
 * wording, and asks which conclusions hold under every choice measured.
 */
export function analyseComparison(measured: MeasuredSequence[], declarations: readonly ConceptDeclarations[], options: ComparisonOptions): ComparisonAnalysis {
  const shapes = new Set(Object.values(measured[0]?.byModel ?? {}).map((m) => `${m.layers}×${m.heads}`));
  if (shapes.size > 1) throw badInput(`the traces have different attention shapes (${[...shapes].join(', ')} layers × heads); compare needs checkpoints of one shape.`);
  const { models, pairs } = options;
  const comparison = compareModels(measured, { models, pairs, seed: options.seed, alpha: options.alpha, references: options.references });
  const conceptIds = [...new Set(measured.map((m) => m.concept))];
  const declared = new Map(declarations.map((c) => [c.id, c]));
  const structured = conceptIds.flatMap((id): StructuredConcept[] => {
    const info = declared.get(id);
    return info?.components && info.structure ? [{ id, sequences: measured.filter((m) => m.concept === id && !m.paraphraseOf), structure: { components: info.components, edges: info.structure } }] : [];
  });
  const structureTests = testStructures(structured, models, pairs, options);
  const structures = new Map(
    structured.flatMap((c) => {
      const result = compareStructure(c.sequences, c.structure, models, pairs, (value) => structureTests.perConcept.get(c.id)?.get(value));
      return result ? [[c.id, result] as const] : [];
    }),
  );
  const wording = new Map(conceptIds.map((id) => [id, compareWording(measured.filter((m) => m.concept === id && m.paraphraseOf).map((m) => ({ legal: m.paraphraseOf!, plain: m.sequence })), meanShareOf(comparison, options.querySet, id), models, pairs)]));
  const robustness = new Map([...conceptIds, '*'].map((id) => [id, robustnessOf(comparison, id, options.alpha)]));
  const widths = conceptWidths(measured);
  return { comparison, structures, structured, structureTests, wording, robustness, widthCorrelation: widthCorrelation(comparison, widths), widths };
}
