import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { compareModels, type Comparison, type MeasuredSequence } from '../compare/compare.js';
import { pairName, type ModelPair } from '../compare/pairs.js';
import { scopeSummary, changeRows, layerRows, shareRows, statRows, structureRows, wordingRows } from './comparison-rows.js';
import { robustnessOf, widthCorrelation } from '../compare/robustness.js';
import { compareStructure, compareWording, testStructures, type StructuredConcept } from '../compare/structure-comparison.js';
import { chanceOptionsOf, type ResolvedAnalysis } from '../options/analysis-options.js';
import { badInput } from '../errors.js';
import { writeFileWhole } from '../io/atomic.js';
import { DEFINITIONS } from './definitions.js';
import type { SequenceMeasures } from '../measure/measure-sequence.js';
import type { RepresentationResults } from '../represent/representations.js';
import { representationRows, REPRESENTATION_DEFINITIONS } from './representation-rows.js';
import type { StoredTraceRecord } from './trace-file.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { MATCHED_CONTROLS } from '../reference/match.js';
import { TOOL_VERSION } from '../version.js';

/** The representation measures, or why they were not taken. */
export type RepresentationOutcome = RepresentationResults | { skipped: string };

/** What writing a comparison gave: where, which files, the comparison itself. */
export interface WrittenComparison {
  out: string;
  files: string[];
  comparison: Comparison;
  pairs: ModelPair[];
  representations?: RepresentationOutcome;
}

/** Each sequence measured under every model, by model name, in the order of the first model's trace. */
export function measuredSequences(models: readonly ModelMeasures[], paraphrases: ReadonlyArray<string | undefined>): MeasuredSequence[] {
  return (models[0]?.record.sequences ?? []).map((item, k): MeasuredSequence => {
    const byModel: MeasuredSequence['byModel'] = {};
    for (const model of models) byModel[model.name] = model.measures[k]!;
    const paraphraseOf = paraphrases[k];
    return { concept: item.concept ?? '', sequence: item.sequence ?? '', index: k, byModel, ...(paraphraseOf ? { paraphraseOf } : {}) };
  });
}

/** A model's trace record and the measures of its sequences, in the record's order. */
export interface ModelMeasures {
  name: string;
  record: StoredTraceRecord;
  measures: SequenceMeasures[];
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

/** summary.json's `references`: what was matched, how many controls and negative-control words, and their own rates per pair. */
function referencesSummary(plan: ReferencePlan, comparison: Comparison) {
  const words = new Set(plan.sequences.flatMap((s) => s.spans.flatMap((span) => (span.kind === 'word' ? [span.word!] : []))));
  return {
    matchedOn: plan.features,
    ...(plan.embeddingUnread ? { embeddingUnread: plan.embeddingUnread } : {}),
    matchedControls: MATCHED_CONTROLS,
    controlRuns: plan.sequences.reduce((n, s) => n + s.spans.filter((span) => span.kind === 'control').length, 0),
    controlsPerWidth: plan.controlsPerWidth,
    wordTypes: words.size,
    negativeControls: comparison.negativeControls,
  };
}

/** Compares measured sequences and writes summary.json and the CSV files into `out`. */
export async function writeComparison(
  measured: MeasuredSequence[],
  records: ReadonlyArray<{ name: string; record: StoredTraceRecord }>,
  pairs: ModelPair[],
  analysis: ResolvedAnalysis,
  references: ReferencePlan,
  out: string,
  representations?: RepresentationOutcome,
): Promise<WrittenComparison> {
  const names = records.map((r) => r.name);
  const shapes = new Set(Object.values(measured[0]?.byModel ?? {}).map((m) => `${m.layers}×${m.heads}`));
  if (shapes.size > 1) throw badInput(`the traces have different attention shapes (${[...shapes].join(', ')} layers × heads); compare needs checkpoints of one shape.`);

  const comparison = compareModels(measured, { models: names, pairs, seed: analysis.seed, alpha: analysis.alpha, references });
  const conceptIds = [...new Set(measured.map((m) => m.concept))];
  const conceptInfo = new Map((records[0]?.record.concepts ?? []).map((c) => [c.id, c]));
  const primary = { querySet: analysis.measure.querySets[0]!, sink: 'include' as const };
  const meanShare = (concept: string) => (sequence: string, model: string): number => {
    const scope = comparison.sequences.find((s) => s.scope === concept && s.sequences[0] === `${concept}/${sequence}` && s.variant.target === 'concept' && s.variant.querySet === primary.querySet && s.variant.sink === primary.sink);
    const share = scope?.models.find((m) => m.model === model)?.share;
    return share ? share.reduce((a, b) => a + b, 0) / share.length : Number.NaN;
  };
  const widths = conceptWidths(measured);
  const structured = conceptIds.flatMap((id): StructuredConcept[] => {
    const info = conceptInfo.get(id);
    return info?.components && info.structure ? [{ id, sequences: measured.filter((m) => m.concept === id && !m.paraphraseOf), structure: { components: info.components, edges: info.structure } }] : [];
  });
  const structureTests = testStructures(structured, names, pairs, chanceOptionsOf(analysis));
  const structures = new Map(
    structured.flatMap((c) => {
      const result = compareStructure(c.sequences, c.structure, names, pairs, (value) => structureTests.perConcept.get(c.id)?.get(value));
      return result ? [[c.id, result] as const] : [];
    }),
  );
  const wording = new Map(
    conceptIds.map((id) => [
      id,
      compareWording(
        measured.filter((m) => m.concept === id && m.paraphraseOf).map((m) => ({ legal: m.paraphraseOf!, plain: m.sequence })),
        meanShare(id),
        names,
        pairs,
      ),
    ]),
  );
  const summary = {
    tool: { name: 'legal-attn', version: TOOL_VERSION },
    definitions: DEFINITIONS,
    options: {
      querySets: analysis.measure.querySets,
      spanTokens: analysis.measure.spanTokens,
      sinks: analysis.measure.sinks,
      pairs: pairs.map(pairName),
      seed: analysis.seed,
      controls: analysis.references.controlsPerWidth,
      permutations: analysis.permutations,
      alpha: analysis.alpha,
      rolloutResidual: analysis.measure.rolloutResidual,
      chatTemplate: records.some(({ record }) => record.chatTemplate),
      maps: records[0]?.record.maps ?? 'full',
      // Per model: queries per block where attention ran in blocks to stay within --max-memory-gb; null: whole layers.
      attentionBlockRows: Object.fromEntries(records.map(({ name, record }) => [name, record.blockRows ?? null])),
    },
    // What every target was judged against, and how often its negative controls beat chance on each pair.
    references: referencesSummary(references, comparison),
    models: records.map(({ name, record }) => ({ name, dir: record.model.dir, contentHash: record.model.contentHash, layers: comparison.layers, heads: comparison.heads })),
    concepts: conceptIds.map((id) => ({
      id,
      name: conceptInfo.get(id)?.name ?? id,
      area: conceptInfo.get(id)?.area ?? null,
      source: conceptInfo.get(id)?.source ?? null,
      sequences: measured.filter((m) => m.concept === id && !m.paraphraseOf).map((m) => m.sequence),
      controlSequences: measured.filter((m) => m.concept === id && m.paraphraseOf).map((m) => m.sequence),
      results: comparison.scopes.filter((s) => s.scope === id).map((s) => scopeSummary(s, comparison, analysis.alpha)),
      structure: structures.get(id) ?? null,
      widthTokens: widths.get(id) ?? null,
      robustness: robustnessOf(comparison, id, analysis.alpha),
      wording: wording.get(id) ?? [],
    })),
    overall: comparison.scopes.filter((s) => s.scope === '*').map((s) => scopeSummary(s, comparison, analysis.alpha)),
    overallRobustness: robustnessOf(comparison, '*', analysis.alpha),
    // Does the change depend on how many tokens the concept spans? Spearman's ρ over concepts, per pair.
    widthCorrelation: widthCorrelation(comparison, widths),
    // The distance-matched structure test pooled over every concept that declares a structure.
    structure: structured.length > 0 ? { concepts: structured.map((c) => c.id), tests: structureTests.pooled } : null,
    // Residual-stream measures beside attention; null where not asked for (--no-representations) or no states were kept beside the traces.
    representations: representations ? ('skipped' in representations ? representations : { definitions: REPRESENTATION_DEFINITIONS, ...representations }) : null,
  };
  const files: Array<[string, string]> = [
    ['shares.csv', stringify(shareRows(comparison))],
    ['changes.csv', stringify(changeRows(comparison))],
    ['stats.csv', stringify(statRows(comparison, analysis.alpha))],
    ['layers.csv', stringify(layerRows(comparison))],
    ['structure.csv', stringify(structureRows(structures, names, pairs.map(pairName)))],
    ['wording.csv', stringify(wordingRows(wording, names, pairs.map(pairName)))],
    ...(representations && !('skipped' in representations) ? [['representations.csv', stringify(representationRows(representations))] as [string, string]] : []),
    ['summary.json', `${JSON.stringify(summary, null, 2)}\n`],
  ];
  for (const [name, text] of files) await writeFileWhole(path.join(out, name), text);
  return { out, files: files.map(([name]) => name), comparison, pairs };
}
