import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { compareModels, type Comparison, type MeasuredSequence } from './compare/compare.js';
import { defaultPairs, pairName, parsePairs, type ModelPair } from './compare/pairs.js';
import { scopeSummary, changeRows, layerRows, shareRows, statRows, structureRows, wordingRows } from './compare/results.js';
import { robustnessOf, widthCorrelation } from './compare/robustness.js';
import { compareStructure, compareWording, testStructures, type StructuredConcept } from './compare/structure-results.js';
import type { Concept } from './concepts/concept.js';
import { loadConcepts } from './concepts/load-concepts.js';
import { badInput } from './errors.js';
import { writeFileWhole, writeOutputFolder } from './io/atomic.js';
import { readTokensFile } from './results/tokens-file.js';
import { readTraceIndex, writeTraceIndex, type IndexedModel } from './results/trace-index.js';
import type { SinkMode } from './measure/attention-share.js';
import { DEFINITIONS } from './measure/definitions.js';
import type { MeasureOptions, SequenceMeasures } from './measure/measure-sequence.js';
import { optionValue } from './options.js';
import { fullMapMeasurer, inGraphMeasurer, measureCheckpoint, savedMapsMeasurer, type Measurer, type PassOptions } from './measurers.js';
import { checkDevice, type Device, type SessionOptions } from './trace/session.js';
import type { QuerySetKind } from './measure/query-set.js';
import { readTraceRecord, type TraceRecord } from './results/trace-file.js';
import { checkMapSize, planSequences, type MapsMode, type PlannedSequence } from './run-trace.js';
import { checkLengthFits } from './trace/fit.js';
import { hasChatTemplate } from './tokenize/chat-template.js';
import { loadTokenizer } from './tokenize/tokenizer.js';
import type { SpanRule } from './tokenize/align-spans.js';
import { openCheckpoint, type Checkpoint } from './trace/checkpoint.js';
import { TOOL_VERSION } from './version.js';
import { captureStates } from './represent/capture.js';
import { residualStreams, stateSequences, storedStateSequences } from './represent/plan.js';
import type { ResidualStream } from './trace/residual-stream.js';
import { measureRepresentations, type RepresentationResults } from './represent/representations.js';
import { representationRows, REPRESENTATION_DEFINITIONS } from './represent/results.js';

export interface NamedModel {
  name: string;
  dir: string;
}

/** Options of the measure stage, shared by `compare` and `measure`. */
export interface AnalysisOptions {
  /** `after:before` pairs as on the command line; default: each model against the previous, and last against first. */
  pairs?: string;
  querySets?: QuerySetKind[];
  /** `exclude` reports shares without the sink beside those with it. */
  sink?: SinkMode;
  /** Span rules the concept is measured under, side by side (default: overlap). */
  spanTokens?: SpanRule[];
  seed?: number;
  controls?: number;
  permutations?: number;
  alpha?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export interface CompareRequest extends AnalysisOptions {
  /** Wrap each sequence in the checkpoints' chat template. */
  chatTemplate?: boolean;
  models: NamedModel[];
  concepts: string;
  out: string;
  /** Replace a non-empty `out` that legal-attn did not write. */
  force?: boolean;
  batchSize?: number;
  threads?: number;
  device?: Device;
  cacheDir?: string;
  maxMapBytes?: number;
  /** Memory one layer's attention may take in a pass; beyond it, attention runs in blocks of queries (default 2 GiB). */
  maxMemoryBytes?: number;
  /**
   * `mean` (default): every measure computed inside the graph, head-averaged maps kept
   * of `mapLayers` for the report; `none`: no maps; `full`: per-head maps traced to
   * disk and measured from there (what `measure` can recompute without the models).
   */
  maps?: MapsMode;
  /** Layers whose head-averaged maps are kept with `--maps mean` (default: the last). */
  mapLayers?: number[];
  /** Capture residual states and measure representations beside attention (default true). */
  representations?: boolean;
}

/** The representation measures, or why they were not taken. */
export type RepresentationOutcome = RepresentationResults | { skipped: string };

export interface CompareSummary {
  out: string;
  files: string[];
  comparison: Comparison;
  pairs: ModelPair[];
  /** Sequences run through a model (the others came from the trace cache or an earlier trace). */
  computed: number;
  representations?: RepresentationOutcome;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

interface ResolvedAnalysis {
  measure: MeasureOptions;
  permutations: number;
  alpha: number;
  seed: number;
}

function resolveAnalysis(options: AnalysisOptions): ResolvedAnalysis {
  // The ranges and defaults of the option table, for library callers as for the command line.
  const seed = optionValue('seed', options.seed);
  const controls = optionValue('controls', options.controls);
  const permutations = optionValue('permutations', options.permutations);
  const alpha = optionValue('alpha', options.alpha);
  const querySets = options.querySets && options.querySets.length > 0 ? [...new Set(options.querySets)] : (['all'] as QuerySetKind[]);
  const sinks: SinkMode[] = options.sink === 'exclude' ? ['include', 'exclude'] : ['include'];
  const spanRules = [...new Set(optionValue<SpanRule[]>('spanTokens', options.spanTokens))];
  return { measure: { querySets, sinks, spanRules, controls: { maxControls: controls, seed }, rolloutResidual: 0.5 }, permutations, alpha, seed };
}

function resolvePairs(text: string | undefined, names: readonly string[]): ModelPair[] {
  return text === undefined ? defaultPairs(names) : parsePairs(text, names);
}

function checkModelNames(models: readonly NamedModel[]): void {
  if (models.length < 2) throw badInput(`compare needs at least two models (--model NAME=DIR, given ${models.length}); name each checkpoint, for example --model base=DIR --model cpt=DIR.`);
  const seen = new Set<string>();
  for (const { name } of models) {
    if (!MODEL_NAME.test(name)) throw badInput(`--model: "${name}" is not a usable model name; use letters, digits, dots, dashes or underscores.`);
    if (seen.has(name)) throw badInput(`--model: the name ${name} is given twice; give each checkpoint its own name.`);
    seen.add(name);
  }
}

/** Models of one comparison must read text alike (the first model's tokens are `planned`) and have the same attention layout. */
async function checkComparable(checkpoints: ReadonlyArray<{ name: string; checkpoint: Checkpoint }>, planned: readonly PlannedSequence[], template: { chatTemplate: boolean; chatTemplateFrom?: string }): Promise<void> {
  const [first, ...others] = checkpoints;
  if (!first) return;
  for (const other of others) {
    const layersA = first.checkpoint.graph.attention.length;
    const layersB = other.checkpoint.graph.attention.length;
    if (layersA !== layersB) {
      throw badInput(`models ${first.name} and ${other.name} differ in layers (${layersA} and ${layersB}); compare needs checkpoints of one lineage with the same shape.`);
    }
    const headsA = first.checkpoint.shape.heads;
    const headsB = other.checkpoint.shape.heads;
    if (headsA !== undefined && headsB !== undefined && headsA !== headsB) {
      throw badInput(`models ${first.name} and ${other.name} differ in attention heads (${headsA} and ${headsB}); compare needs checkpoints of one lineage with the same shape.`);
    }
    const tokenizer = await loadTokenizer(other.checkpoint.dir, template);
    for (const { aligned } of planned) {
      const ids = (await tokenizer.encode(aligned.text)).ids;
      const expected = aligned.ids;
      if (ids.length !== expected.length || ids.some((id, i) => id !== expected[i])) {
        throw badInput(
          `models ${first.name} and ${other.name} tokenize "${aligned.text.slice(0, 40)}…" differently (${tokenizer.file} differs from ${path.join(first.checkpoint.dir, 'tokenizer.json')}); concept tokens would not correspond, so compare needs one tokenizer.`,
        );
      }
    }
  }
}

function resolveMapLayers(request: CompareRequest, checkpoints: PreparedCompare['checkpoints']): number[] {
  const layers = checkpoints[0]?.checkpoint.graph.attention.length ?? 0;
  const mapLayers = [...new Set(request.mapLayers ?? [layers - 1])].sort((a, b) => a - b);
  for (const l of mapLayers) if (!Number.isInteger(l) || l < 0 || l >= layers) throw badInput(`--map-layers: layer ${l} is outside the models' layers 0 to ${layers - 1}.`);
  return mapLayers;
}

/**
 * The resolved plan of a compare: every input checked and every option resolved, the
 * sequences tokenized once (the models share one tokenizer, which is checked). Runners
 * take only this; nothing is loaded yet.
 */
export interface PreparedCompare {
  request: CompareRequest;
  /** The folder whose chat template wraps every model's input (the last model that has one). */
  chatTemplateFrom?: string;
  concepts: Concept[];
  checkpoints: Array<{ name: string; checkpoint: Checkpoint }>;
  pairs: ModelPair[];
  analysis: ResolvedAnalysis;
  maps: MapsMode;
  /** Layers whose head-averaged maps are kept (in-graph measuring). */
  mapLayers: number[];
  /** Every sequence of the concepts, tokenized and aligned, in concept-file order. */
  planned: PlannedSequence[];
}

/** Checks everything a compare needs (names, pairs, options, concepts, checkpoints, tokenizers) before any model runs. */
export async function prepareCompare(request: CompareRequest): Promise<PreparedCompare> {
  checkModelNames(request.models);
  const names = request.models.map((m) => m.name);
  const pairs = resolvePairs(request.pairs, names);
  const analysis = resolveAnalysis(request);
  const concepts = await loadConcepts(request.concepts);
  const openOptions = request.cacheDir === undefined ? {} : { cacheDir: request.cacheDir };
  const checkpoints: Array<{ name: string; checkpoint: Checkpoint }> = [];
  for (const model of request.models) {
    const checkpoint = await openCheckpoint(model.dir, openOptions);
    const twin = checkpoints.find((c) => c.checkpoint.contentHash === checkpoint.contentHash && c.checkpoint.tokenizerHash === checkpoint.tokenizerHash);
    if (twin) {
      throw badInput(`--model ${model.name} and --model ${twin.name} are the same weights (${checkpoint.dir === twin.checkpoint.dir ? 'one folder' : 'identical files'}, content hash ${checkpoint.contentHash.slice(0, 12)}): every change between them is 0; compare different checkpoints.`);
    }
    checkpoints.push({ name: model.name, checkpoint });
  }
  // One template for the whole lineage, so every model reads the same input: the instruct model's.
  let chatTemplateFrom: string | undefined;
  if (request.chatTemplate) {
    for (const { checkpoint } of [...checkpoints].reverse()) if (!chatTemplateFrom && (await hasChatTemplate(checkpoint.dir))) chatTemplateFrom = checkpoint.dir;
    if (!chatTemplateFrom) throw badInput('--chat-template: none of the models has a chat_template in its tokenizer_config.json; drop --chat-template.');
  }
  const template = { chatTemplate: request.chatTemplate ?? false, ...(chatTemplateFrom ? { chatTemplateFrom } : {}) };
  // One tokenization for every model, by the first model's tokenizer; checkComparable shows that the others read the texts alike.
  const planned = await planSequences({ model: checkpoints[0]!.checkpoint, concepts: request.concepts, out: '', ...template }, checkpoints[0]!.checkpoint, concepts);
  await checkComparable(checkpoints, planned, template);
  const maps = request.maps ?? 'mean';
  const mapLayers = maps === 'mean' ? resolveMapLayers(request, checkpoints) : [];
  if (request.device) checkDevice(request.device);
  for (const { checkpoint } of checkpoints) {
    for (const p of planned) checkLengthFits(checkpoint, p.aligned.ids.length, p.dir);
    checkMapSize({ maps, ...(request.maxMapBytes ? { maxMapBytes: request.maxMapBytes } : {}) }, checkpoint, planned);
  }
  return { request, concepts, checkpoints, pairs, analysis, maps, mapLayers, planned, ...(chatTemplateFrom ? { chatTemplateFrom } : {}) };
}

/**
 * `compare`: traces each named checkpoint once (through the trace cache, keeping an
 * identical earlier trace in OUT/traces/NAME), then measures and compares them and
 * writes summary.json and the CSV files. Every input is checked before the first
 * model is loaded.
 */
export async function compareCheckpoints(request: CompareRequest): Promise<CompareSummary> {
  return runPreparedCompare(await prepareCompare(request));
}

/** Threads and device of every session of a compare. */
const sessionOptions = (request: CompareRequest): SessionOptions => ({ ...(request.threads ? { threads: request.threads } : {}), ...(request.device ? { device: request.device } : {}) });

/** How every model of a compare is measured: one measurer, with the same batches, threads and device. */
function measurerOf({ request, analysis, maps, mapLayers }: PreparedCompare, checkpoint: Checkpoint, stream?: ResidualStream): Measurer {
  const options: PassOptions = {
    ...(request.batchSize ? { batchSize: request.batchSize } : {}),
    ...sessionOptions(request),
    ...(request.maxMemoryBytes ? { maxMemoryBytes: request.maxMemoryBytes } : {}),
  };
  return maps === 'full' ? fullMapMeasurer(checkpoint, analysis.measure, options) : inGraphMeasurer(checkpoint, analysis.measure, mapLayers, options, stream);
}

/** Runs a compare plan into a staging folder that then replaces `request.out` whole. */
export async function runPreparedCompare(prepared: PreparedCompare): Promise<CompareSummary> {
  const out = path.resolve(prepared.request.out);
  const summary = await writeOutputFolder(out, { force: prepared.request.force ?? false }, (staging) => compareInto(prepared, staging));
  return { ...summary, out };
}

/**
 * One path for every measurer: each model in turn, measured over the planned sequences
 * (its trace folder written as it goes), then the comparison and its files.
 */
async function compareInto(prepared: PreparedCompare, out: string): Promise<CompareSummary> {
  const { request, checkpoints, planned } = prepared;
  const index: IndexedModel[] = [];
  const models: ModelMeasures[] = [];
  let computed = 0;
  const streams = request.representations === false ? undefined : await residualStreams(checkpoints);
  for (const { name, checkpoint } of checkpoints) {
    const folder = path.join(out, 'traces', name);
    const stage = prepared.maps === 'full' ? `tracing ${name}` : `measuring ${name} in the graph`;
    const stream = typeof streams === 'object' ? streams.get(name) : undefined;
    const result = await measureCheckpoint(checkpoint, planned, measurerOf(prepared, checkpoint, stream), folder, {
      chatTemplate: request.chatTemplate ?? false,
      onProgress: (done, total) => request.onProgress?.(stage, done, total),
    });
    computed += result.computed;
    // Measured in the graph, the states came in the same passes; full maps need a pass of their own.
    if (stream && prepared.maps === 'full') {
      await captureStates(checkpoint, stream, planned, folder, {
        ...sessionOptions(request),
        controls: prepared.analysis.measure.controls,
        onProgress: (done, total) => request.onProgress?.(`representations of ${name}`, done, total),
      });
    }
    models.push({ name, record: result.record, measures: result.measures });
    index.push({ name, dir: checkpoint.dir, contentHash: checkpoint.contentHash, traceFolder: folder });
  }
  await writeTraceIndex(out, index);
  const measured = measuredSequences(models, planned.map((p) => p.paraphraseOf));
  let representations: RepresentationOutcome | undefined;
  if (typeof streams === 'string') representations = { skipped: streams };
  else if (streams) {
    const names = checkpoints.map((c) => c.name);
    const facts = prepared.concepts.map((c) => ({ id: c.id, area: c.area, ...(c.structure ? { structure: c.structure } : {}) }));
    const { analysis } = prepared;
    representations = await measureRepresentations(stateSequences(planned, path.join(out, 'traces'), names, analysis.measure.controls), names, prepared.pairs, facts, { draws: analysis.permutations, seed: analysis.seed, alpha: analysis.alpha });
  }
  return { ...(await writeComparison(measured, models, prepared.pairs, prepared.analysis, out, representations)), computed, ...(representations ? { representations } : {}) };
}

/** Each sequence measured under every model, by model name, in the order of the first model's trace. */
function measuredSequences(models: readonly ModelMeasures[], paraphrases: ReadonlyArray<string | undefined>): MeasuredSequence[] {
  return (models[0]?.record.sequences ?? []).map((item, k): MeasuredSequence => {
    const byModel: MeasuredSequence['byModel'] = {};
    for (const model of models) byModel[model.name] = model.measures[k]!;
    const paraphraseOf = paraphrases[k];
    return { concept: item.concept ?? '', sequence: item.sequence ?? '', byModel, ...(paraphraseOf ? { paraphraseOf } : {}) };
  });
}

/**
 * `measure`: recomputes every measure from the traces a compare run saved in
 * RESULTS/traces, without running a model, and writes the results into `out`.
 */
export async function measureResults(resultsDir: string, options: AnalysisOptions & { out?: string }): Promise<Omit<CompareSummary, 'computed'>> {
  const analysis = resolveAnalysis(options);
  const index = await readTraceIndex(resultsDir);
  const names = index.map((m) => m.name);
  const pairs = resolvePairs(options.pairs, names); // a bad --pairs is refused before any trace is read
  const records: Array<{ name: string; folder: string; record: TraceRecord }> = [];
  for (const model of index) {
    const folder = model.traceFolder;
    const record = await readTraceRecord(folder);
    if (record.maps !== 'full') {
      throw badInput(
        `${path.join(folder, 'trace.json')}: compare ran with --maps ${record.maps}, which computes the measures inside the graph and keeps no per-head maps; run compare again with these options (passes in the trace cache are reused), or compare --maps full to measure again later without the models.`,
      );
    }
    records.push({ name: model.name, folder, record });
  }
  const sequenceList = records[0]?.record.sequences ?? [];
  for (const { name, record } of records) {
    const same = record.sequences.length === sequenceList.length && record.sequences.every((s, k) => s.dir === sequenceList[k]?.dir);
    if (!same) throw badInput(`traces of ${name} and ${names[0]} list different sequences; trace every model on the same concepts.`);
  }

  // The plan of the saved traces: the sequences as the first model's tokens.json files give them, the same ids for every model.
  const planned: PlannedSequence[] = [];
  for (const item of sequenceList) {
    const [first, ...others] = await Promise.all(records.map(({ folder }) => readTokensFile(path.join(folder, item.dir, 'tokens.json'))));
    others.forEach((tokens, k) => {
      if (JSON.stringify(tokens.ids) !== JSON.stringify(first!.ids)) throw badInput(`${path.join(records[k + 1]!.folder, item.dir, 'tokens.json')}: ids differ from those of ${names[0]}; compare needs one tokenizer.`);
    });
    const aligned = { text: first!.text ?? '', ids: BigInt64Array.from(first!.ids, BigInt), tokens: first!.tokens ?? [], offsets: first!.offsets ?? [], spans: first!.spans };
    planned.push({ dir: item.dir, aligned, ...(first!.paraphraseOf ? { paraphraseOf: first!.paraphraseOf } : {}) });
  }
  // The saved maps, measured through the same interface as compare's passes.
  const models: ModelMeasures[] = [];
  for (const { name, folder, record } of records) {
    const measures: SequenceMeasures[] = [];
    for await (const pass of savedMapsMeasurer(folder, analysis.measure).measure(planned)) {
      measures[pass.index] = pass.measures;
      options.onProgress?.(`measuring ${name}`, pass.index + 1, planned.length);
    }
    models.push({ name, record, measures });
  }
  const measured = measuredSequences(models, planned.map((p) => p.paraphraseOf));
  // Residual states compare kept beside the traces are measured again under these options.
  const stored = await storedStateSequences(
    sequenceList.map((item, k) => ({ dir: item.dir, concept: item.concept ?? '', sequence: item.sequence ?? item.dir, ...(planned[k]!.paraphraseOf ? { paraphraseOf: planned[k]!.paraphraseOf } : {}) })),
    records,
  );
  const facts = (records[0]?.record.concepts ?? []).map((c) => ({ id: c.id, area: c.area ?? '', ...(c.structure ? { structure: c.structure } : {}) }));
  const representations = stored ? await measureRepresentations(stored, names, pairs, facts, { draws: analysis.permutations, seed: analysis.seed, alpha: analysis.alpha }) : undefined;
  const out = path.resolve(options.out ?? resultsDir);
  // Results written elsewhere point at the traces they were measured from, so that report draws their maps.
  if (out !== path.resolve(resultsDir)) await writeTraceIndex(out, index);
  return { ...(await writeComparison(measured, records, pairs, analysis, out, representations)), ...(representations ? { representations } : {}) };
}

/** A model's trace record and the measures of its sequences, in the record's order. */
interface ModelMeasures {
  name: string;
  record: TraceRecord;
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

/** Compares measured sequences and writes summary.json and the CSV files into `out`. */
async function writeComparison(
  measured: MeasuredSequence[],
  records: ReadonlyArray<{ name: string; record: TraceRecord }>,
  pairs: ModelPair[],
  analysis: ResolvedAnalysis,
  out: string,
  representations?: RepresentationOutcome,
): Promise<Omit<CompareSummary, 'computed'>> {
  const names = records.map((r) => r.name);
  const shapes = new Set(Object.values(measured[0]?.byModel ?? {}).map((m) => `${m.layers}×${m.heads}`));
  if (shapes.size > 1) throw badInput(`the traces have different attention shapes (${[...shapes].join(', ')} layers × heads); compare needs checkpoints of one shape.`);

  const comparison = compareModels(measured, { models: names, pairs, permutations: analysis.permutations, seed: analysis.seed, alpha: analysis.alpha });
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
  const structureTests = testStructures(structured, names, pairs, { draws: analysis.permutations, seed: analysis.seed, alpha: analysis.alpha });
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
      spanTokens: analysis.measure.spanRules,
      sinks: analysis.measure.sinks,
      pairs: pairs.map(pairName),
      seed: analysis.seed,
      controls: analysis.measure.controls.maxControls,
      permutations: analysis.permutations,
      alpha: analysis.alpha,
      rolloutResidual: analysis.measure.rolloutResidual,
      chatTemplate: records.some(({ record }) => record.chatTemplate),
      maps: records[0]?.record.maps ?? 'full',
      // Per model: queries per block where attention ran in blocks to stay within --max-memory-gb; null: whole layers.
      attentionBlockRows: Object.fromEntries(records.map(({ name, record }) => [name, record.blockRows ?? null])),
    },
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
    // Residual-stream measures beside attention; null where not asked for (--no-representations, or measure from saved maps).
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
