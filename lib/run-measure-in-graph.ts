import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeFolderWhole, writeJson } from './io/atomic.js';
import type { Float32Tensor } from './io/npy.js';
import { measureReduced, reductionLayout, widenInputs, type ReductionLayout } from './measure/measure-reduced.js';
import type { MeasureOptions, SequenceMeasures } from './measure/measure-sequence.js';
import { traceRecord, type TraceRecord } from './results/trace-file.js';
import { inputsDigest, planSequences, writeSequence, type SequenceMaps } from './run-trace.js';
import type { Checkpoint } from './trace/checkpoint.js';
import type { ReductionPlan } from './trace/reduce-graph.js';
import { openReducedSession, type ReducedAttention, type ReducedSession, type SessionOptions } from './trace/session.js';
import type { CacheParts } from './trace/trace-cache.js';
import { passesThroughCache } from './trace/trace.js';

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

/** The head-averaged maps kept of one sequence, `[kept layers, T, T]`; none when no layer is kept. */
function keptMaps(reduced: ReducedAttention, mapLayers: readonly number[], T: number): SequenceMaps {
  if (mapLayers.length === 0) return {};
  const data = new Float32Array(mapLayers.length * T * T);
  mapLayers.forEach((l, k) => data.set(reduced.means.get(l)!.data, k * T * T));
  return { mean: { data, dims: [mapLayers.length, T, T] }, layers: [...mapLayers] };
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
  const measures: SequenceMeasures[] = new Array<SequenceMeasures>(planned.length);
  const out = path.resolve(request.out);
  let computed = 0;
  let fromCache = 0;
  let session: ReducedSession | undefined;
  try {
    const passes = passesThroughCache(
      checkpoint,
      planned.map((p) => p.aligned.ids),
      { batchSize, ...(request.useCache === false ? { useCache: false } : {}), variant: (k) => variantOf(plan, layouts[k]!) },
      async (indices) => {
        session ??= await openReducedSession(checkpoint, plan, request);
        const K = Math.max(...indices.map((k) => layouts[k]!.keySetCount));
        const R = Math.max(...indices.map((k) => layouts[k]!.rolloutCount));
        const results = await session.run(
          indices.map((k) => planned[k]!.aligned.ids),
          indices.map((k) => widenInputs(layouts[k]!, K, R)),
        );
        // Zero columns added for the batch are cut away, so the cache holds what this sequence alone gives.
        return results.map((result, b) => toParts(narrow(result, layouts[indices[b]!]!.keySetCount, layouts[indices[b]!]!.rolloutCount)));
      },
    );
    for await (const { index, parts, cached } of passes) {
      if (cached) fromCache++;
      else computed++;
      const reduced = fromParts(parts);
      measures[index] = measureReduced(reduced, layouts[index]!, request.measure);
      const item = planned[index]!;
      await writeFolderWhole(path.join(out, item.dir), (folder) => writeSequence(folder, item, keptMaps(reduced, request.mapLayers, item.aligned.ids.length)));
      request.onProgress?.(computed + fromCache, planned.length);
    }
  } finally {
    await session?.release();
  }
  const record = traceRecord(checkpoint, planned, {
    maps: request.mapLayers.length > 0 ? 'mean' : 'none',
    mapLayers: [...request.mapLayers],
    chatTemplate: request.chatTemplate ?? false,
    inputsDigest: inputsDigest(planned),
  });
  await writeJson(path.join(out, 'trace.json'), record);
  return { record, measures, paraphrases: planned.map((p) => p.paraphraseOf), computed, fromCache };
}

/**
 * Sequences per pass when none is asked for: short texts gain from padding several into
 * one pass (the bench: 139 sequences of 28–56 tokens, 183 ms one at a time, 145 ms eight
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
