import path from 'node:path';
import { checkOutputFolder, stageFolder } from '../io/atomic.js';
import { writeTraceIndex, type IndexedModel } from '../results/trace-index.js';
import { comparisonOptionsOf, judgeOptionsOf } from '../options/analysis-options.js';
import { analyseComparison } from '../compare/analyse-comparison.js';
import { measuredSequences, VALUE_LENS_FROM_MAPS, writeComparison, type ModelMeasures, type RepresentationOutcome, type WrittenComparison } from '../results/comparison-files.js';
import { captureStates } from '../represent/capture.js';
import { residualStreams, storedStateSequences } from '../represent/stored-states.js';
import { valueProjectionsOf } from '../checkpoint/output-projection.js';
import type { ValueProjection } from '../checkpoint/graph-analysis.js';
import { measureRepresentations } from '../represent/representations.js';
import { captureKnockout } from '../knockout/capture.js';
import { layerSetsOf } from '../knockout/rows.js';
import { measureKnockout } from '../knockout/measure.js';
import { storedKnockoutSequences } from '../knockout/stored.js';
import { badInput } from '../errors.js';
import { writeReferences } from '../results/references-file.js';
import { measureCheckpoint } from '../measurers/measure-checkpoint.js';
import type { CompareRequest } from '../options/run-options.js';
import { knockoutBudget, prepareCompare, type PreparedCompare } from '../plan/compare-plan.js';
import { measurerOf, sessionOptions } from '../measurers/measurer-of.js';

export type { CompareRequest, NamedModel } from '../options/run-options.js';

export interface CompareSummary extends WrittenComparison {
  /** Sequences run through a model (the others came from the trace cache or an earlier trace). */
  computed: number;
  /** Knockout passes run through a model (the others came from the trace cache). */
  knockoutComputed: number;
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

/** Runs a compare plan into a staging folder that then replaces `request.out` whole. */
export async function runPreparedCompare(prepared: PreparedCompare): Promise<CompareSummary> {
  const out = path.resolve(prepared.request.out);
  await checkOutputFolder(out, prepared.request.force ?? false);
  const folder = await stageFolder(out);
  try {
    const summary = await compareInto(prepared, folder.dir);
    await folder.commit();
    return { ...summary, out };
  } catch (error) {
    await folder.discard();
    throw error;
  }
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
  let knockoutComputed = 0;
  const streams = request.representations === false && !request.knockout ? undefined : await residualStreams(checkpoints);
  if (request.knockout && typeof streams === 'string') throw badInput(`--knockout: ${streams}; attention knockout compares the last residual state with the baseline's, so it needs it.`);
  const layerSets = layerSetsOf(request.knockoutLayers);
  const values = valueLensOf(prepared);
  for (const { name, checkpoint } of checkpoints) {
    const folder = path.join(out, 'traces', name);
    const stage = prepared.maps === 'full' ? `tracing ${name}` : `measuring ${name} in the graph`;
    const stream = typeof streams === 'object' ? streams.get(name) : undefined;
    const measurer = measurerOf(prepared, checkpoint, request.representations === false ? undefined : stream, typeof values === 'object' ? values.get(name) : undefined);
    const result = await measureCheckpoint(checkpoint, planned, measurer, folder, {
      chatTemplate: request.chatTemplate ?? false,
      onProgress: (done, total) => request.onProgress?.(stage, done, total),
    });
    computed += result.computed;
    // Measured in the graph, the states came in the same passes; full maps need a pass of their own.
    if (stream && prepared.maps === 'full' && request.representations !== false) {
      await captureStates(checkpoint, stream, planned, folder, {
        ...sessionOptions(request),
        onProgress: (done, total) => request.onProgress?.(`representations of ${name}`, done, total),
      });
    }
    // knockout rows are passes of their own, one session run per sequence
    if (request.knockout && stream) {
      const knocked = await captureKnockout(checkpoint, stream, planned, folder, {
        ...sessionOptions(request),
        layerSets,
        seed: prepared.references.seed,
        ...(request.knockoutControls !== undefined ? { controlsPerWidth: request.knockoutControls } : {}),
        budget: knockoutBudget(request),
        onProgress: (done, total) => request.onProgress?.(`knockout of ${name}`, done, total),
      });
      knockoutComputed += knocked.computed;
    }
    models.push({ name, record: result.record, measures: result.measures });
    index.push({ name, dir: checkpoint.dir, contentHash: checkpoint.contentHash, traceFolder: folder });
  }
  await writeTraceIndex(out, index);
  await writeReferences(out, prepared.references, planned.map((p) => p.dir));
  const measured = measuredSequences(models, planned.map((p) => p.paraphraseOf));
  const sequenceFacts = planned.map((p) => ({ dir: p.dir, concept: p.concept?.id ?? '', sequence: p.sequenceId ?? p.dir, ...(p.paraphraseOf ? { paraphraseOf: p.paraphraseOf } : {}) }));
  const folders = index.map((m) => ({ name: m.name, folder: m.traceFolder }));
  let representations: RepresentationOutcome | undefined;
  if (typeof streams === 'string') representations = request.representations === false ? undefined : { skipped: streams };
  else if (streams && request.representations !== false) {
    const names = checkpoints.map((c) => c.name);
    const facts = prepared.concepts.map((c) => ({ id: c.id, area: c.area, ...(c.structure ? { structure: c.structure } : {}) }));
    // the rows as the passes wrote them beside the traces, read back as measure reads them
    const stored = await storedStateSequences(sequenceFacts, folders);
    representations = stored ? await measureRepresentations(stored, names, prepared.pairs, facts, judgeOptionsOf(prepared.analysis, prepared.references)) : { skipped: 'the passes wrote no residual states' };
  }
  const knocked = request.knockout ? await storedKnockoutSequences(sequenceFacts, folders) : undefined;
  const knockout = knocked ? await measureKnockout(knocked, checkpoints.map((c) => c.name), prepared.pairs, judgeOptionsOf(prepared.analysis, prepared.references)) : undefined;
  const analysed = analyseComparison(measured, models[0]?.record.concepts ?? [], comparisonOptionsOf(prepared.analysis, models.map((m) => m.name), prepared.pairs, prepared.references));
  const written = await writeComparison({ analysed, measured, records: models, pairs: prepared.pairs, analysis: prepared.analysis, references: prepared.references, ...(representations ? { representations } : {}), ...(knockout ? { knockout } : {}), valueWeighted: typeof values === 'string' ? values : 'measured' }, out);
  return { ...written, computed, knockoutComputed, ...(representations ? { representations } : {}) };
}

/** Each model's W_O per layer for the value-weighted lens, or why the run leaves that lens out. */
function valueLensOf({ maps, checkpoints }: PreparedCompare): Map<string, ValueProjection[]> | string {
  if (maps === 'full') return VALUE_LENS_FROM_MAPS;
  return valueProjectionsOf(checkpoints.map(({ name, checkpoint }) => ({ name, graph: checkpoint.graph })));
}
