import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeFolderWhole, writeJson } from './io/atomic.js';
import { writeNpy, type Float32Tensor } from './io/npy.js';
import { measureReduced, reductionLayout, widenInputs, type ReductionLayout } from './measure/measure-reduced.js';
import type { MeasureOptions, SequenceMeasures } from './measure/measure-sequence.js';
import { inputsDigest, planSequences, traceRecord, tokensRecord, type PlannedSequence, type TracedSequence, type TraceRecord } from './run-trace.js';
import type { Checkpoint } from './trace/checkpoint.js';
import type { ReductionPlan } from './trace/reduce-graph.js';
import { openReducedSession, type ReducedAttention, type ReducedSession, type SessionOptions } from './trace/session.js';
import { TraceCache, type CacheParts } from './trace/trace-cache.js';

export interface InGraphRequest extends SessionOptions {
  checkpoint: Checkpoint;
  concepts: string;
  /** The model's trace folder: tokens.json and the kept head-averaged maps of each sequence, and trace.json. */
  out: string;
  measure: MeasureOptions;
  /** Layers whose head-averaged maps are kept for the report (none: no maps at all). */
  mapLayers: readonly number[];
  chatTemplate?: boolean;
  chatTemplateFrom?: string;
  /** Sequences per forward pass (right-padded); 1 runs them one at a time; default: `autoBatchSize`. */
  batchSize?: number;
  /** Read and fill the trace cache (default true). */
  useCache?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface InGraphResult {
  record: TraceRecord;
  /** In the order of `record.sequences`. */
  measures: SequenceMeasures[];
  /** For each sequence, the legal sequence it paraphrases, if it is a plain-wording control. */
  paraphrases: Array<string | undefined>;
  computed: number;
  fromCache: number;
}

function toParts(reduced: ReducedAttention): CacheParts {
  const parts: CacheParts = { mass: reduced.mass };
  if (reduced.columnSums) parts.columnSums = reduced.columnSums;
  if (reduced.rollout) parts.rollout = reduced.rollout;
  if (reduced.entropy) parts.entropy = reduced.entropy;
  for (const [l, mean] of reduced.means) parts[`mean.${l}`] = mean;
  return parts;
}

function fromParts(parts: CacheParts): ReducedAttention {
  const means = new Map<number, Float32Tensor>();
  for (const [name, tensor] of Object.entries(parts)) if (name.startsWith('mean.')) means.set(Number(name.slice(5)), tensor);
  const reduced: ReducedAttention = { mass: parts.mass!, means };
  if (parts.columnSums) reduced.columnSums = parts.columnSums;
  if (parts.rollout) reduced.rollout = parts.rollout;
  if (parts.entropy) reduced.entropy = parts.entropy;
  return reduced;
}

/** What a cached pass was reduced to: the plan and every column it was reduced on. */
function variantOf(plan: ReductionPlan, layout: ReductionLayout): string {
  const hash = createHash('sha256').update(JSON.stringify(plan));
  hash.update(new Uint8Array(layout.inputs.keySets.buffer, layout.inputs.keySets.byteOffset, layout.inputs.keySets.byteLength));
  if (layout.inputs.rollout) hash.update(new Uint8Array(layout.inputs.rollout.buffer, layout.inputs.rollout.byteOffset, layout.inputs.rollout.byteLength));
  return `reduced-${hash.digest('hex')}`;
}

async function writeSequence(folder: string, planned: PlannedSequence, reduced: ReducedAttention, mapLayers: readonly number[]): Promise<void> {
  const files: Record<string, unknown> = {};
  if (mapLayers.length > 0) {
    const T = planned.aligned.ids.length;
    const data = new Float32Array(mapLayers.length * T * T);
    mapLayers.forEach((l, k) => data.set(reduced.means.get(l)!.data, k * T * T));
    await writeNpy(path.join(folder, 'attentions-mean.npy'), { data, dims: [mapLayers.length, T, T] });
    files.attentions = { file: 'attentions-mean.npy', shape: [mapLayers.length, T, T], axes: ['layer', 'query', 'key'], layers: mapLayers };
  }
  const identity = planned.concept ? { concept: planned.concept.id, sequence: planned.sequenceId, ...(planned.paraphraseOf ? { paraphraseOf: planned.paraphraseOf } : {}) } : {};
  await writeJson(path.join(folder, 'tokens.json'), tokensRecord(planned.aligned, { ...identity, ...files }));
}

/**
 * Runs one checkpoint over the concepts with every measure computed inside the graph
 * (`reduce-graph.ts`): no per-head map is ever materialised, each batch's small
 * tensors are turned into the sequence's measures and written before the next batch,
 * and each pass is kept in the trace cache so that an interrupted run resumes.
 */
export async function measureInGraph(request: InGraphRequest): Promise<InGraphResult> {
  const { checkpoint } = request;
  const planned = await planSequences(
    { model: checkpoint, concepts: request.concepts, out: request.out, chatTemplate: request.chatTemplate ?? false, ...(request.chatTemplateFrom ? { chatTemplateFrom: request.chatTemplateFrom } : {}) },
    checkpoint,
  );
  const batchSize = request.batchSize ?? autoBatchSize(planned.map((p) => p.aligned.ids.length));
  // Plain column sums are one cheap reduction, right for unpadded single sequences with the sink included.
  const columnSums = batchSize > 1 || request.measure.sinks.includes('exclude') ? 'weighted' : 'plain';
  const plan: ReductionPlan = { entropy: true, columnSums, rolloutResidual: request.measure.rolloutResidual, meanLayers: [...request.mapLayers] };
  const layouts = planned.map((p) => reductionLayout(p.aligned.ids.length, p.aligned.spans, request.measure));
  const cache = new TraceCache(checkpoint.cacheDir);
  const keyOf = (k: number) => ({ model: checkpoint.contentHash, tokenizer: checkpoint.tokenizerHash, ids: planned[k]!.aligned.ids, variant: variantOf(plan, layouts[k]!) });
  const measures: SequenceMeasures[] = new Array<SequenceMeasures>(planned.length);
  const out = path.resolve(request.out);
  let computed = 0;
  let fromCache = 0;
  let session: ReducedSession | undefined;

  const finish = async (k: number, reduced: ReducedAttention): Promise<void> => {
    measures[k] = measureReduced(reduced, layouts[k]!, request.measure);
    const item = planned[k]!;
    await writeFolderWhole(path.join(out, item.dir), (folder) => writeSequence(folder, item, reduced, request.mapLayers));
    request.onProgress?.(computed + fromCache, planned.length);
  };
  try {
    let pending: number[] = [];
    const flush = async (): Promise<void> => {
      if (pending.length === 0) return;
      session ??= await openReducedSession(checkpoint, plan, request);
      const K = Math.max(...pending.map((k) => layouts[k]!.keySetCount));
      const R = Math.max(...pending.map((k) => layouts[k]!.rolloutCount));
      const results = await session.run(
        pending.map((k) => planned[k]!.aligned.ids),
        pending.map((k) => widenInputs(layouts[k]!, K, R)),
      );
      for (const [b, k] of pending.entries()) {
        // Zero columns added for the batch are cut away, so the cache holds what this sequence alone gives.
        const reduced = narrow(results[b]!, layouts[k]!.keySetCount, layouts[k]!.rolloutCount);
        if (request.useCache !== false) await cache.putParts(keyOf(k), toParts(reduced));
        computed++;
        await finish(k, reduced);
      }
      pending = [];
    };
    for (let k = 0; k < planned.length; k++) {
      const hit = request.useCache === false ? undefined : await cache.getParts(keyOf(k));
      if (hit) {
        fromCache++;
        await finish(k, fromParts(hit));
        continue;
      }
      pending.push(k);
      if (pending.length >= batchSize) await flush();
    }
    await flush();
  } finally {
    await session?.release();
  }
  const sequences: TracedSequence[] = planned.map((p) => ({ dir: p.dir, tokens: p.aligned.ids.length, ...(p.concept ? { concept: p.concept.id, sequence: p.sequenceId } : {}) }));
  const record = traceRecord(checkpoint, planned, {
    maps: request.mapLayers.length > 0 ? 'mean' : 'none',
    mapLayers: [...request.mapLayers],
    chatTemplate: request.chatTemplate ?? false,
    inputsDigest: inputsDigest(planned),
    sequences,
  });
  await writeJson(path.join(out, 'trace.json'), record);
  return { record, measures, paraphrases: planned.map((p) => p.paraphraseOf), computed, fromCache };
}

/**
 * Sequences per pass when none is asked for: short texts gain from padding several into
 * one pass (the bench: 139 sequences of 28–56 tokens, 204 ms one at a time, 163 ms eight
 * at a time); long ones do not, and padding would multiply their T×T maps.
 */
export function autoBatchSize(lengths: readonly number[]): number {
  return Math.max(0, ...lengths) <= 256 ? 8 : 1;
}

/** One sequence's reductions without the zero columns its batch added. */
function narrow(reduced: ReducedAttention, K: number, R: number): ReducedAttention {
  const cut = (tensor: Float32Tensor, width: number): Float32Tensor => {
    const dims = tensor.dims;
    const from = dims[dims.length - 1] ?? 0;
    if (from === width) return tensor;
    const rows = tensor.data.length / from;
    const data = new Float32Array(rows * width);
    for (let r = 0; r < rows; r++) data.set(tensor.data.subarray(r * from, r * from + width), r * width);
    return { data, dims: [...dims.slice(0, -1), width] };
  };
  const result: ReducedAttention = { ...reduced, mass: cut(reduced.mass, K) };
  if (reduced.rollout) result.rollout = cut(reduced.rollout, R);
  return result;
}
