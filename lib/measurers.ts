import { createHash } from 'node:crypto';
import path from 'node:path';
import { writeJson } from './io/atomic.js';
import { readNpy, type Float32Tensor } from './io/npy.js';
import { FULL_MAP_TOKENS, mapCells, MAX_MAP_CELLS } from './measure/map-cells.js';
import { measureReduced, reductionLayout, widenInputs, type ReductionLayout } from './measure/measure-reduced.js';
import { measureSequence, type MeasureOptions, type SequenceMeasures } from './measure/measure-sequence.js';
import { traceRecord, type TraceRecord } from './results/trace-file.js';
import { writeStates } from './represent/capture.js';
import { poolMatrix, stateRows, type StateRow } from './represent/span-rows.js';
import type { ResidualStream } from './trace/residual-stream.js';
import { inputsDigest, writeSequence, type MapsMode, type PlannedSequence, type SequenceMaps } from './run-trace.js';
import type { Checkpoint } from './trace/checkpoint.js';
import { REDUCTION_FORMAT, type ReductionPlan } from './trace/reduce-graph.js';
import { openReducedSession, type ReducedAttention, type ReducedSession, type SessionOptions } from './trace/session.js';
import type { CacheParts } from './trace/trace-cache.js';
import { passesThroughCache, traceAttentionCached } from './trace/trace.js';

/** What a measurer gives for one sequence: its measures, and the maps kept of it (written beside its tokens.json). */
export interface MeasuredPass {
  index: number;
  measures: SequenceMeasures;
  maps: SequenceMaps;
  /** From the trace cache rather than a forward pass. */
  cached: boolean;
  /** Residual states pooled over `rows`, `[states, rows, hidden]`, where the measurer captures them. */
  states?: { tensor: Float32Tensor; rows: StateRow[] };
}

/**
 * One way of measuring one model over planned sequences (as nnsight has one backend
 * interface and several implementations): from full per-head maps of a checkpoint,
 * inside its graph (whole layers, or each layer as a loop over blocks of queries for
 * long texts), or from the maps an earlier run saved.
 */
export interface Measurer {
  /** What trace.json says was kept. */
  readonly maps: MapsMode;
  readonly mapLayers: readonly number[];
  /** Queries per block where attention ran in blocks (known once `measure` has run); undefined: whole layers. */
  readonly blockRows?: number | undefined;
  measure(planned: readonly PlannedSequence[]): AsyncGenerator<MeasuredPass>;
}

/** How passes are run: batches, threads, device, the trace cache. */
export interface PassOptions extends SessionOptions {
  /** Sequences per forward pass (right-padded); default: `autoBatchSize`. */
  batchSize?: number;
  /** Read and fill the trace cache (default true). */
  useCache?: boolean;
  /** Memory a layer's attention may take in one pass; beyond it, attention runs in blocks of queries. */
  maxMemoryBytes?: number;
}

/** Default budget for one layer's attention in a pass: blocks of queries are made smaller to stay within it. */
export const DEFAULT_ATTENTION_BYTES = 2 * 1024 ** 3;
/** A layer whose scores take at most this many bytes runs whole: the loop over blocks would only cost time. */
const WHOLE_LAYER_BYTES = 32 * 1024 ** 2;
/** Queries per block where the budget allows: faster than whole layers from 1,024 tokens on, and far smaller (`npm run bench`). */
const BLOCK_ROWS = 128;

/**
 * Queries per block for the longest pass: none (whole layers) for short texts (at most
 * 128 tokens, or scores `batch × heads × T² × 4` of at most 32 MiB) whose scores, masked
 * scores and probabilities fit the budget; else 128, or fewer where
 * `8 × batch × heads × B × T × 4` bytes (the block's scores, mask, P and their copies
 * in the loop, measured) would pass the budget, a multiple of 16.
 */
export function blockRowsFor(heads: number, longest: number, batchSize: number, budget: number): number | undefined {
  const row = batchSize * heads * longest * 4;
  if ((longest <= BLOCK_ROWS || row * longest <= WHOLE_LAYER_BYTES) && 3 * row * longest <= budget) return undefined;
  return Math.max(16, Math.min(BLOCK_ROWS, Math.floor(budget / (8 * row) / 16) * 16));
}

/** Every measure from each sequence's full `[layers, heads, T, T]` maps, which are kept. */
export function fullMapMeasurer(checkpoint: Checkpoint, measure: MeasureOptions, options: PassOptions = {}): Measurer {
  return {
    maps: 'full',
    mapLayers: [],
    async *measure(planned) {
      const ids = planned.map((p) => p.aligned.ids);
      for await (const { index, attention, cached } of traceAttentionCached(checkpoint, ids, { ...options, batchSize: options.batchSize ?? 1 })) {
        yield { index, measures: measureSequence(attention, planned[index]!.aligned.spans, measure, planned[index]!.references), maps: { full: attention }, cached };
      }
    },
  };
}

/**
 * Every measure computed inside the graph (`reduce-graph.ts`): no per-head map is ever
 * materialised; the head-averaged maps of `mapLayers` are kept for the report. Each
 * pass is kept in the trace cache, so that an interrupted run resumes.
 */
export function inGraphMeasurer(checkpoint: Checkpoint, measure: MeasureOptions, mapLayers: readonly number[], options: PassOptions = {}, stream?: ResidualStream): Measurer {
  let chosenRows: number | undefined;
  return {
    maps: mapLayers.length > 0 ? 'mean' : 'none',
    mapLayers,
    get blockRows() {
      return chosenRows;
    },
    async *measure(planned) {
      const batchSize = options.batchSize ?? autoBatchSize(planned.map((p) => p.aligned.ids.length));
      // Plain column sums are one cheap reduction, right for unpadded single sequences with the sink included.
      const columnSums = batchSize > 1 || measure.sinks.includes('exclude') ? 'weighted' : 'plain';
      const longest = Math.max(0, ...planned.map((p) => p.aligned.ids.length));
      // Beyond FULL_MAP_TOKENS a T × T map is 64 MiB and more a layer: the run keeps its maps pooled as the report draws them.
      const pooled = longest > FULL_MAP_TOKENS ? { mapCells: MAX_MAP_CELLS } : {};
      const plan: ReductionPlan = { entropy: true, columnSums, rolloutResidual: measure.rolloutResidual, meanLayers: [...mapLayers], ...pooled, ...(stream ? { states: stream } : {}) };
      const blockRows = blockRowsFor(checkpoint.shape.heads ?? 32, longest, batchSize, options.maxMemoryBytes ?? DEFAULT_ATTENTION_BYTES);
      // Blocks change how a pass runs, not what it gives (within 1e-5): the cache keys on the plan without them.
      const sessionPlan: ReductionPlan = blockRows ? { ...plan, blockRows } : plan;
      chosenRows = blockRows;
      const layouts = planned.map((p) => reductionLayout(p.aligned.ids.length, p.aligned.spans, measure, p.references));
      // The spans whose residual states are kept (representations), and their pooling rows.
      const stateRowsOf = stream ? planned.map((p) => stateRows(p.aligned, p.references ?? [])) : [];
      const pools = stateRowsOf.map((rows, k) => poolMatrix(rows, planned[k]!.aligned.ids.length));
      const poolOf = (k: number, S: number): Float32Array => (S === stateRowsOf[k]!.length ? pools[k]! : poolMatrix(stateRowsOf[k]!, planned[k]!.aligned.ids.length, S));
      let session: ReducedSession | undefined;
      try {
        const passes = passesThroughCache(
          checkpoint,
          planned.map((p) => p.aligned.ids),
          { batchSize, ...(options.useCache === false ? { useCache: false } : {}), variant: (k) => variantOf(plan, layouts[k]!, pools[k]) },
          async (indices) => {
            session ??= await openReducedSession(checkpoint, sessionPlan, options);
            const K = Math.max(...indices.map((k) => layouts[k]!.keySetCount));
            const R = Math.max(...indices.map((k) => layouts[k]!.rolloutCount));
            const S = stream ? Math.max(...indices.map((k) => stateRowsOf[k]!.length)) : 0;
            const results = await session.run(
              indices.map((k) => planned[k]!.aligned.ids),
              indices.map((k) => ({ ...widenInputs(layouts[k]!, K, R), ...(stream ? { pool: poolOf(k, S) } : {}) })),
            );
            // Zero columns and rows added for the batch are cut away, so the cache holds what this sequence alone gives.
            return results.map((result, b) => toParts(narrow(result, layouts[indices[b]!]!.keySetCount, layouts[indices[b]!]!.rolloutCount, stateRowsOf[indices[b]!]?.length)));
          },
        );
        for await (const { index, parts, cached } of passes) {
          const reduced = fromParts(parts);
          const states = reduced.states ? { states: { tensor: reduced.states, rows: stateRowsOf[index]! } } : {};
          yield { index, measures: measureReduced(reduced, layouts[index]!, measure), maps: keptMaps(reduced, mapLayers, planned[index]!.aligned.ids.length, plan.mapCells), cached, ...states };
        }
      } finally {
        await session?.release();
      }
    },
  };
}

/** Every measure from the per-head maps an earlier `--maps full` run saved in a trace folder: no model runs. */
export function savedMapsMeasurer(traceFolder: string, measure: MeasureOptions): Measurer {
  return {
    maps: 'full',
    mapLayers: [],
    async *measure(planned) {
      for (const [index, p] of planned.entries()) {
        const attention = await readNpy(path.join(traceFolder, p.dir, 'attentions.npy'));
        yield { index, measures: measureSequence(attention, p.aligned.spans, measure, p.references), maps: { full: attention }, cached: true };
      }
    },
  };
}

/** What measuring one checkpoint gave: its trace.json and each sequence's measures, in plan order. */
export interface CheckpointMeasures {
  record: TraceRecord;
  measures: SequenceMeasures[];
  computed: number;
  fromCache: number;
}

/**
 * Measures one checkpoint with a measurer and writes its trace folder as it goes: per
 * sequence tokens.json and the kept maps, then trace.json. One loop for every measurer.
 */
export async function measureCheckpoint(
  checkpoint: Checkpoint,
  planned: readonly PlannedSequence[],
  measurer: Measurer,
  folder: string,
  options: { chatTemplate: boolean; onProgress?: (done: number, total: number) => void },
): Promise<CheckpointMeasures> {
  const measures = new Array<SequenceMeasures>(planned.length);
  let computed = 0;
  let fromCache = 0;
  for await (const pass of measurer.measure(planned)) {
    if (pass.cached) fromCache++;
    else computed++;
    measures[pass.index] = pass.measures;
    await writeSequence(path.join(folder, planned[pass.index]!.dir), planned[pass.index]!, pass.maps);
    if (pass.states) await writeStates(path.join(folder, planned[pass.index]!.dir), pass.states.tensor, pass.states.rows);
    options.onProgress?.(computed + fromCache, planned.length);
  }
  const record = traceRecord(checkpoint, planned, {
    maps: measurer.maps,
    ...(measurer.maps === 'mean' ? { mapLayers: [...measurer.mapLayers] } : {}),
    ...(measurer.blockRows ? { blockRows: measurer.blockRows } : {}),
    chatTemplate: options.chatTemplate,
    inputsDigest: inputsDigest(planned),
  });
  await writeJson(path.join(folder, 'trace.json'), record);
  return { record, measures, computed, fromCache };
}

function toParts(reduced: ReducedAttention): CacheParts {
  const parts: CacheParts = { mass: reduced.mass };
  if (reduced.columnSums) parts.columnSums = reduced.columnSums;
  if (reduced.rollout) parts.rollout = reduced.rollout;
  if (reduced.entropy) parts.entropy = reduced.entropy;
  for (const [l, mean] of reduced.means) parts[`mean.${l}`] = mean;
  if (reduced.states) parts.states = reduced.states;
  return parts;
}

function fromParts(parts: CacheParts): ReducedAttention {
  const means = new Map<number, Float32Tensor>();
  for (const [name, tensor] of Object.entries(parts)) if (name.startsWith('mean.')) means.set(Number(name.slice(5)), tensor);
  const reduced: ReducedAttention = { mass: parts.mass!, means };
  if (parts.columnSums) reduced.columnSums = parts.columnSums;
  if (parts.rollout) reduced.rollout = parts.rollout;
  if (parts.entropy) reduced.entropy = parts.entropy;
  if (parts.states) reduced.states = parts.states;
  return reduced;
}

/** What a cached pass was reduced to: the plan and every column it was reduced on. */
function variantOf(plan: ReductionPlan, layout: ReductionLayout, pool?: Float32Array): string {
  // the reduced graph's format too: a change to what it computes must not reuse older passes
  const hash = createHash('sha256').update(JSON.stringify({ format: REDUCTION_FORMAT, plan }));
  if (pool) hash.update(new Uint8Array(pool.buffer, pool.byteOffset, pool.byteLength));
  hash.update(new Uint8Array(layout.inputs.keySets.buffer, layout.inputs.keySets.byteOffset, layout.inputs.keySets.byteLength));
  if (layout.inputs.rollout) hash.update(new Uint8Array(layout.inputs.rollout.buffer, layout.inputs.rollout.byteOffset, layout.inputs.rollout.byteLength));
  return `reduced-${hash.digest('hex')}`;
}

/** The head-averaged maps kept of one sequence, `[kept layers, T, T]`, or `[kept layers, C, C]` cells where kept pooled; none when no layer is kept. */
function keptMaps(reduced: ReducedAttention, mapLayers: readonly number[], T: number, maxCells: number | undefined): SequenceMaps {
  if (mapLayers.length === 0) return {};
  const [size = T] = reduced.means.get(mapLayers[0]!)!.dims;
  const data = new Float32Array(mapLayers.length * size * size);
  mapLayers.forEach((l, k) => data.set(reduced.means.get(l)!.data, k * size * size));
  const cellTokens = maxCells ? { cellTokens: mapCells(T, maxCells).block } : {};
  return { mean: { data, dims: [mapLayers.length, size, size] }, layers: [...mapLayers], ...cellTokens };
}

/**
 * Sequences per pass when none is asked for: short texts gain from padding several into
 * one pass (the bench: 139 sequences of 28–56 tokens, 183 ms one at a time, 145 ms eight
 * at a time); long ones do not, and padding would multiply their T×T maps.
 */
export function autoBatchSize(lengths: readonly number[]): number {
  return Math.max(0, ...lengths) <= 256 ? 8 : 1;
}

/** One sequence's reductions without the zero columns (and state rows) its batch added. */
function narrow(reduced: ReducedAttention, K: number, R: number, stateRowCount?: number): ReducedAttention {
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
  if (reduced.states && stateRowCount !== undefined && reduced.states.dims[1] !== stateRowCount) {
    const [L = 0, S = 0, H = 0] = reduced.states.dims;
    const data = new Float32Array(L * stateRowCount * H);
    for (let l = 0; l < L; l++) data.set(reduced.states.data.subarray(l * S * H, (l * S + stateRowCount) * H), l * stateRowCount * H);
    result.states = { data, dims: [L, stateRowCount, H] };
  }
  return result;
}
