import path from 'node:path';
import type { ModelPair } from '../compare/pairs.js';
import type { Concept } from '../concepts/concept.js';
import { loadConcepts } from '../concepts/load-concepts.js';
import { badInput } from '../errors.js';
import { writeOutputFolder } from '../io/atomic.js';
import { writeTraceIndex, type IndexedModel } from '../results/trace-index.js';
import { checkDevice, type SessionOptions } from '../runtime/session.js';
import { checkLengthFits } from '../checkpoint/fit.js';
import { hasChatTemplate } from '../tokenize/chat-template.js';
import { loadTokenizer } from '../tokenize/tokenizer.js';
import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import type { RunOptions } from '../options/run-options.js';
import { judgeOptionsOf, resolveAnalysis, resolvePairs, type ResolvedAnalysis } from '../options/analysis-options.js';
import { measuredSequences, writeComparison, type ModelMeasures, type RepresentationOutcome, type WrittenComparison } from '../results/comparison-files.js';
import { captureStates } from '../represent/capture.js';
import { residualStreams, storedStateSequences } from '../represent/stored-states.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import { measureRepresentations } from '../represent/representations.js';
import { type ReferencePlan } from '../reference/reference-plan.js';
import { writeReferences } from '../results/references-file.js';
import { checkMapSize, planSequences, type MapsMode, type PlannedSequence } from '../plan/planned-sequence.js';
import { planReferences } from '../plan/plan-references.js';
import { fullMapMeasurer } from '../measurers/full-maps.js';
import { inGraphMeasurer } from '../measurers/in-graph.js';
import { measureCheckpoint } from '../measurers/measure-checkpoint.js';
import { type Measurer, type PassOptions } from '../measurers/measurer.js';

export interface NamedModel {
  name: string;
  dir: string;
}

export type { RunOptions } from '../options/run-options.js';

export interface CompareRequest extends RunOptions {
  models: NamedModel[];
  concepts: string;
  out: string;
  /** Replace a non-empty `out` that legal-attn did not write. */
  force?: boolean;
  cacheDir?: string;
}

export interface CompareSummary extends WrittenComparison {
  /** Sequences run through a model (the others came from the trace cache or an earlier trace). */
  computed: number;
}

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

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
  /** Every sequence of the concepts, tokenized and aligned, in concept-file order, with the spans it is judged against. */
  planned: PlannedSequence[];
  /** What every target is judged against: control runs of its class and negative-control words. */
  references: ReferencePlan;
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
  const planned = await planSequences({ concepts: request.concepts, ...template }, checkpoints[0]!.checkpoint, concepts);
  await checkComparable(checkpoints, planned, template);
  const references = await planReferences(planned, checkpoints[0]!.checkpoint, analysis.references);
  const maps = request.maps ?? 'mean';
  const mapLayers = maps === 'mean' ? resolveMapLayers(request, checkpoints) : [];
  if (request.device) checkDevice(request.device);
  for (const { checkpoint } of checkpoints) {
    for (const p of planned) checkLengthFits(checkpoint, p.aligned.ids.length, p.dir);
    checkMapSize({ maps, ...(request.maxMapBytes ? { maxMapBytes: request.maxMapBytes } : {}) }, checkpoint, planned);
  }
  return { request, concepts, checkpoints, pairs, analysis, maps, mapLayers, planned, references, ...(chatTemplateFrom ? { chatTemplateFrom } : {}) };
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
        onProgress: (done, total) => request.onProgress?.(`representations of ${name}`, done, total),
      });
    }
    models.push({ name, record: result.record, measures: result.measures });
    index.push({ name, dir: checkpoint.dir, contentHash: checkpoint.contentHash, traceFolder: folder });
  }
  await writeTraceIndex(out, index);
  await writeReferences(out, prepared.references, planned.map((p) => p.dir));
  const measured = measuredSequences(models, planned.map((p) => p.paraphraseOf));
  let representations: RepresentationOutcome | undefined;
  if (typeof streams === 'string') representations = { skipped: streams };
  else if (streams) {
    const names = checkpoints.map((c) => c.name);
    const facts = prepared.concepts.map((c) => ({ id: c.id, area: c.area, ...(c.structure ? { structure: c.structure } : {}) }));
    // the rows as the passes wrote them beside the traces, read back as measure reads them
    const stored = await storedStateSequences(
      planned.map((p) => ({ dir: p.dir, concept: p.concept?.id ?? '', sequence: p.sequenceId ?? p.dir, ...(p.paraphraseOf ? { paraphraseOf: p.paraphraseOf } : {}) })),
      index.map((m) => ({ name: m.name, folder: m.traceFolder })),
    );
    representations = stored ? await measureRepresentations(stored, names, prepared.pairs, facts, judgeOptionsOf(prepared.analysis, prepared.references)) : { skipped: 'the passes wrote no residual states' };
  }
  return { ...(await writeComparison(measured, models, prepared.pairs, prepared.analysis, prepared.references, out, representations)), computed, ...(representations ? { representations } : {}) };
}
