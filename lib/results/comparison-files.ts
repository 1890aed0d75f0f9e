import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { Comparison, MeasuredSequence } from '../compare/compare.js';
import type { ComparisonAnalysis } from '../compare/analyse-comparison.js';
import { pairName, type ModelPair } from '../options/pairs.js';
import { scopeSummary, changeRows, layerRows, shareRows, statRows, structureRows, wordingRows } from './comparison-rows.js';
import type { ResolvedAnalysis } from '../options/analysis-options.js';
import { writeFileWhole } from '../io/atomic.js';
import { DEFINITIONS } from './definitions.js';
import type { SequenceMeasures } from '../measure/measure-sequence.js';
import type { RepresentationResults } from '../represent/representations.js';
import { representationRows, REPRESENTATION_DEFINITIONS } from './representation-rows.js';
import type { KnockoutResults } from '../knockout/measure.js';
import { knockoutRows, KNOCKOUT_DEFINITIONS } from './knockout-rows.js';
import type { StoredTraceRecord } from './trace-file.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { MATCHED_CONTROLS } from '../reference/match.js';
import { TOOL_VERSION } from '../version.js';
import { comparisonNotes } from './comparison-notes.js';

/** The representation measures, or why they were not taken. */
export type RepresentationOutcome = RepresentationResults | { skipped: string };

/** The representation results a run measured, or undefined where it skipped them or was not asked. */
export const measuredRepresentations = (outcome: RepresentationOutcome | undefined): RepresentationResults | undefined => (outcome && !('skipped' in outcome) ? outcome : undefined);

/** What writing a comparison gave: where, which files, the comparison itself. */
export interface WrittenComparison {
  out: string;
  files: string[];
  comparison: Comparison;
  pairs: ModelPair[];
  representations?: RepresentationOutcome;
  knockout?: KnockoutResults;
  /** What the numbers alone hide, one line each (see comparisonNotes). */
  notes: string[];
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

/** Why a run from full maps (compare --maps full, and measure) has no value-weighted lens: the maps keep no value norms. */
export const VALUE_LENS_FROM_MAPS = 'it is measured in the graph only, and --maps full keeps the attention lens';

/** What a comparison's files are written from: the analysis, what the traces recorded, the options resolved. */
export interface ComparisonInputs {
  analysed: ComparisonAnalysis;
  measured: readonly MeasuredSequence[];
  records: ReadonlyArray<{ name: string; record: StoredTraceRecord }>;
  pairs: ModelPair[];
  analysis: ResolvedAnalysis;
  references: ReferencePlan;
  representations?: RepresentationOutcome;
  /** The knockout measures, where compare ran with --knockout. */
  knockout?: KnockoutResults;
  /** `measured`, or why the value-weighted lens was left out of the run (one line). */
  valueWeighted?: string;
}

/** summary.json's `options`: what the run was asked and resolved to. */
function optionsSummary({ analysis, pairs, records, valueWeighted }: ComparisonInputs) {
  return {
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
    // The value-weighted lens: `measured`, or why the run left it out.
    ...(valueWeighted ? { valueWeighted } : {}),
    attentionBlockRows: Object.fromEntries(records.map(({ name, record }) => [name, record.blockRows ?? null])),
  };
}

/** summary.json: definitions, options, models, every concept's results, overall, and the representation measures. */
function summaryOf(inputs: ComparisonInputs) {
  const { analysed, measured, records, analysis, references, representations, knockout } = inputs;
  const { comparison } = analysed;
  const conceptIds = [...new Set(measured.map((m) => m.concept))];
  const conceptInfo = new Map((records[0]?.record.concepts ?? []).map((c) => [c.id, c]));
  return {
    tool: { name: 'legal-attn', version: TOOL_VERSION },
    definitions: DEFINITIONS,
    options: optionsSummary(inputs),
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
      structure: analysed.structures.get(id) ?? null,
      widthTokens: analysed.widths.get(id) ?? null,
      robustness: analysed.robustness.get(id) ?? [],
      wording: analysed.wording.get(id) ?? [],
    })),
    overall: comparison.scopes.filter((s) => s.scope === '*').map((s) => scopeSummary(s, comparison, analysis.alpha)),
    overallRobustness: analysed.robustness.get('*') ?? [],
    // Does the change depend on how many tokens the concept spans? Spearman's ρ over concepts, per pair.
    widthCorrelation: analysed.widthCorrelation,
    // The distance-matched structure test pooled over every concept that declares a structure.
    structure: analysed.structured.length > 0 ? { concepts: analysed.structured.map((c) => c.id), tests: analysed.structureTests.pooled } : null,
    // Residual-stream measures beside attention; null where not asked for (--no-representations) or no states were kept beside the traces.
    representations: representations ? ('skipped' in representations ? representations : { definitions: REPRESENTATION_DEFINITIONS, ...representations }) : null,
    // Attention knockout (--knockout); null where not asked for.
    knockout: knockout ? { definitions: KNOCKOUT_DEFINITIONS, ...knockout } : null,
  };
}

/** Writes a comparison's summary.json and CSV files into `out`. */
export async function writeComparison(inputs: ComparisonInputs, out: string): Promise<WrittenComparison> {
  const { analysed, records, pairs, analysis, representations, knockout } = inputs;
  const { comparison } = analysed;
  const names = records.map((r) => r.name);
  const files: Array<[string, string]> = [
    ['shares.csv', stringify(shareRows(comparison))],
    ['changes.csv', stringify(changeRows(comparison))],
    ['stats.csv', stringify(statRows(comparison, analysis.alpha))],
    ['layers.csv', stringify(layerRows(comparison))],
    ['structure.csv', stringify(structureRows(analysed.structures, names, pairs.map(pairName)))],
    ['wording.csv', stringify(wordingRows(analysed.wording, names, pairs.map(pairName)))],
    ...(representations && !('skipped' in representations) ? [['representations.csv', stringify(representationRows(representations))] as [string, string]] : []),
    ...(knockout ? [['knockout.csv', stringify(knockoutRows(knockout))] as [string, string]] : []),
    ['summary.json', `${JSON.stringify(summaryOf(inputs), null, 2)}\n`],
  ];
  for (const [name, text] of files) await writeFileWhole(path.join(out, name), text);
  return { out, files: files.map(([name]) => name), comparison, pairs, notes: [...comparisonNotes(analysed), ...(inputs.valueWeighted && inputs.valueWeighted !== 'measured' ? [`value-weighted attention not measured: ${inputs.valueWeighted} (summary.json options.valueWeighted).`] : [])], ...(knockout ? { knockout } : {}) };
}
