import { createHash } from 'node:crypto';
import { type Float32Tensor } from '../io/npy.js';
import { FULL_MAP_TOKENS, mapCells, MAX_MAP_CELLS } from '../measure/map-cells.js';
import { measureReduced, reductionLayout, widenInputs, type ReductionLayout } from '../measure/measure-reduced.js';
import { type MeasureOptions } from '../measure/measure-sequence.js';
import { poolMatrix, stateRows } from '../represent/span-rows.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import type { ValueProjection } from '../checkpoint/graph-analysis.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { openReducedSession, type ReducedSession } from '../runtime/session.js';
import type { CacheParts } from '../runtime/trace-cache.js';
import { passesThroughCache } from '../runtime/passes.js';
import { type SequenceMaps } from '../results/trace-folder.js';
import type { MapsMode } from '../measure/maps-mode.js';
import { longestSequence, type PlannedSequence } from '../plan/planned-sequence.js';
import { autoBatchSize, blockRowsFor, DEFAULT_ATTENTION_BYTES, type MeasuredPass, type Measurer, type PassOptions } from './measurer.js';
import { planIdentity, type ReductionPlan, type ReducedAttention } from '../rewrite/reduction-plan.js';

/**
 * Every measure computed inside the graph (`reduce-graph.ts`): no per-head map is ever
 * materialised; the head-averaged maps of `mapLayers` are kept for the report. Each
 * pass is kept in the trace cache, so that an interrupted run resumes.
 */
export class InGraphMeasurer implements Measurer {
  readonly maps: MapsMode;

  constructor(
    private readonly checkpoint: Checkpoint,
    private readonly measureOptions: MeasureOptions,
    readonly mapLayers: readonly number[],
    private readonly passOptions: PassOptions = {},
    private readonly stream?: ResidualStream,
    /** Each layer's values and W_O, where the run measures the value lens too. */
    private readonly valueProjections?: ValueProjection[],
  ) {
    this.maps = mapLayers.length > 0 ? 'mean' : 'none';
  }

  private batchSize(planned: readonly PlannedSequence[]): number {
    return this.passOptions.batchSize ?? autoBatchSize(planned.map((p) => p.aligned.ids.length));
  }

  blockRows(planned: readonly PlannedSequence[]): number | undefined {
    const longest = longestSequence(planned);
    return blockRowsFor(this.checkpoint.shape.heads ?? 32, longest, this.batchSize(planned), this.passOptions.maxMemoryBytes ?? DEFAULT_ATTENTION_BYTES);
  }

  async *measure(planned: readonly PlannedSequence[]): AsyncGenerator<MeasuredPass> {
    const { checkpoint, measureOptions: measure, mapLayers, passOptions: options, stream, valueProjections } = this;
    const batchSize = this.batchSize(planned);
    // Plain column sums are one cheap reduction, right for unpadded single sequences with the sink included.
    const columnSums = batchSize > 1 || measure.sinks.includes('exclude') ? 'weighted' : 'plain';
    const longest = longestSequence(planned);
    // Beyond FULL_MAP_TOKENS a T × T map is 64 MiB and more a layer: the run keeps its maps pooled as the report draws them.
    const pooled = longest > FULL_MAP_TOKENS ? { mapCells: MAX_MAP_CELLS } : {};
    const plan: ReductionPlan = { entropy: true, columnSums, rolloutResidual: measure.rolloutResidual, meanLayers: [...mapLayers], ...pooled, ...(stream ? { states: stream } : {}), ...(valueProjections ? { valueWeighted: valueProjections } : {}) };
    const blockRows = this.blockRows(planned);
    // Blocks change how a pass runs, not what it gives (within 1e-5): the cache keys on the plan without them.
    const sessionPlan: ReductionPlan = blockRows ? { ...plan, blockRows } : plan;
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
  }
}

function toParts(reduced: ReducedAttention): CacheParts {
  const parts: CacheParts = { mass: reduced.mass };
  if (reduced.valueMass) parts.valueMass = reduced.valueMass;
  if (reduced.valueNorms) parts.valueNorms = reduced.valueNorms;
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
  if (parts.valueMass) reduced.valueMass = parts.valueMass;
  if (parts.valueNorms) reduced.valueNorms = parts.valueNorms;
  if (parts.columnSums) reduced.columnSums = parts.columnSums;
  if (parts.rollout) reduced.rollout = parts.rollout;
  if (parts.entropy) reduced.entropy = parts.entropy;
  if (parts.states) reduced.states = parts.states;
  return reduced;
}

/** What a cached pass was reduced to: the plan and every column it was reduced on. */
function variantOf(plan: ReductionPlan, layout: ReductionLayout, pool?: Float32Array): string {
  // the reduced graph's format too: a change to what it computes must not reuse older passes
  const hash = createHash('sha256').update(planIdentity(plan));
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
  if (reduced.valueMass) result.valueMass = cut(reduced.valueMass, K);
  if (reduced.rollout) result.rollout = cut(reduced.rollout, R);
  if (reduced.states && stateRowCount !== undefined && reduced.states.dims[1] !== stateRowCount) {
    const [L = 0, S = 0, H = 0] = reduced.states.dims;
    const data = new Float32Array(L * stateRowCount * H);
    for (let l = 0; l < L; l++) data.set(reduced.states.data.subarray(l * S * H, (l * S + stateRowCount) * H), l * stateRowCount * H);
    result.states = { data, dims: [L, stateRowCount, H] };
  }
  return result;
}
