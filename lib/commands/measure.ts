import path from 'node:path';
import { comparisonOptionsOf, judgeOptionsOf, resolveAnalysis, resolvePairs, type AnalysisOptions } from '../options/analysis-options.js';
import { badInput } from '../errors.js';
import type { SequenceMeasures } from '../measure/measure-sequence.js';
import { storedStateSequences } from '../represent/stored-states.js';
import { measureRepresentations } from '../represent/representations.js';
import { storedKnockoutSequences } from '../knockout/stored.js';
import { measureKnockout } from '../knockout/measure.js';
import { analyseComparison } from '../compare/analyse-comparison.js';
import { readReferences, writeReferences } from '../results/references-file.js';
import { readTokensFile } from '../results/tokens-file.js';
import { readTraceRecord, type StoredTraceRecord } from '../results/trace-file.js';
import { readTraceIndex, writeTraceIndex } from '../results/trace-index.js';
import { measuredSequences, VALUE_LENS_FROM_MAPS, writeComparison, type ModelMeasures, type WrittenComparison } from '../results/comparison-files.js';
import { type PlannedSequence } from '../plan/planned-sequence.js';
import { FullMapMeasurer, savedMaps } from '../measurers/full-maps.js';

/**
 * `measure`: recomputes every measure from the traces a compare run saved in
 * RESULTS/traces, without running a model, and writes the results into `out`.
 */
export async function measureResults(resultsDir: string, options: AnalysisOptions & { out?: string }): Promise<WrittenComparison> {
  const analysis = resolveAnalysis(options);
  const index = await readTraceIndex(resultsDir);
  const names = index.map((m) => m.name);
  const pairs = resolvePairs(options.pairs, names); // a bad --pairs is refused before any trace is read
  const records: Array<{ name: string; folder: string; record: StoredTraceRecord }> = [];
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
  // The spans the targets were judged against, as compare planned them.
  const references = await readReferences(resultsDir, planned.map((p) => p.dir));
  planned.forEach((p, k) => (p.references = references.sequences[k]!.spans));
  // The saved maps, measured through the same interface as compare's passes.
  const models: ModelMeasures[] = [];
  for (const { name, folder, record } of records) {
    const measures: SequenceMeasures[] = [];
    for await (const pass of new FullMapMeasurer(savedMaps(folder), analysis.measure).measure(planned)) {
      measures[pass.index] = pass.measures;
      options.onProgress?.(`measuring ${name}`, pass.index + 1, planned.length);
    }
    models.push({ name, record, measures });
  }
  const measured = measuredSequences(models, planned.map((p) => p.paraphraseOf));
  // Residual states compare kept beside the traces are measured again under these options.
  const sequenceFacts = sequenceList.map((item, k) => ({ dir: item.dir, concept: item.concept ?? '', sequence: item.sequence ?? item.dir, ...(planned[k]!.paraphraseOf ? { paraphraseOf: planned[k]!.paraphraseOf } : {}) }));
  const stored = await storedStateSequences(sequenceFacts, records);
  const facts = (records[0]?.record.concepts ?? []).map((c) => ({ id: c.id, area: c.area ?? '', ...(c.structure ? { structure: c.structure } : {}) }));
  const representations = stored ? await measureRepresentations(stored, names, pairs, facts, judgeOptionsOf(analysis, references)) : undefined;
  // and the knockout passes compare --knockout kept
  const knocked = await storedKnockoutSequences(sequenceFacts, records);
  const knockout = knocked ? await measureKnockout(knocked, names, pairs, judgeOptionsOf(analysis, references)) : undefined;
  const out = path.resolve(options.out ?? resultsDir);
  // Results written elsewhere point at the traces they were measured from, so that report draws their maps.
  if (out !== path.resolve(resultsDir)) {
    await writeTraceIndex(out, index);
    await writeReferences(out, references, planned.map((p) => p.dir));
  }
  const analysed = analyseComparison(measured, records[0]?.record.concepts ?? [], comparisonOptionsOf(analysis, names, pairs, references));
  const written = await writeComparison({ analysed, measured, records, pairs, analysis, references, ...(representations ? { representations } : {}), ...(knockout ? { knockout } : {}), valueWeighted: VALUE_LENS_FROM_MAPS }, out);
  return { ...written, ...(representations ? { representations } : {}) };
}

