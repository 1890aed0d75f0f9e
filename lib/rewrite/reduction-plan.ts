import type { Float32Tensor } from '../io/npy.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import type { ValueProjection } from '../checkpoint/graph-analysis.js';

// What the reduced graph computes (the plan) and what it takes and returns per pass:
// the one description the rewrite, the session and the measures share.

/** Part of the cached graph's name: bump it whenever the graph this module writes changes, so older cached graphs are not reused. */
export const REDUCTION_FORMAT = 10;

/** What identifies a plan's graph and its passes: the plan and the format of what the graph computes. */
export const planIdentity = (plan: ReductionPlan): string => JSON.stringify({ format: REDUCTION_FORMAT, plan });

export interface ReductionPlan {
  /** Row entropy per query and head. */
  entropy: boolean;
  /** Layers whose head-averaged `[T, T]` map is returned (for the report's maps). */
  meanLayers: readonly number[];
  /**
   * Column sums of each head's map, for any number of reference spans: `plain`, over every
   * query (one unpadded sequence per pass); `weighted`, over the real queries, plain and
   * sink-renormalised (padded batches, the sink excluded).
   */
  columnSums?: 'plain' | 'weighted';
  /** Take the entropy's Σ p·z from the T×T scores even where they are affine in q·k (the path of other graphs). */
  readScores?: boolean;
  /**
   * Where set, the head-averaged maps are kept pooled into at most this many cells a
   * side (`map-cells.ts`), as the report draws them: a long text's `[T, T]` map never exists.
   */
  mapCells?: number;
  /** Residual weight of attention rollout, computed layer by layer inside the graph; none when absent. */
  rolloutResidual?: number;
  /**
   * Queries per block: each layer's attention runs as a loop over blocks of this many
   * queries, so that no `[heads, T, T]` tensor exists (layers that cannot be blocked, and
   * fused kernels, run whole); absent: whole layers.
   */
  blockRows?: number;
  /**
   * Value-weighted attention (Kobayashi et al. 2020): each layer's values and W_O, from
   * which the masses P · (n ⊙ key sets) and the value norms n are returned beside the plain ones.
   */
  valueWeighted?: ValueProjection[];
  /** The residual stream, pooled over the spans of the span-pool input after each state (representations); none when absent. */
  states?: ResidualStream;
}

export interface ReducedAttention {
  /** Attention of each query on each key set, `[layers, heads, T, K]`. */
  mass: Float32Tensor;
  /** Value-weighted masses Σ_j α_ij n_h(j) on each key set, `[layers, heads, T, K]`, where the plan weighs by values. */
  valueMass?: Float32Tensor;
  /** The value norms n_h(j) = ‖v_j W_O^h‖, `[layers, heads, T]`. */
  valueNorms?: Float32Tensor;
  /** Mass each key receives from the queries, plain (and sink-renormalised, and value sink-renormalised), `[layers, heads, rows, T]`. */
  columnSums?: Float32Tensor;
  /** Rollout mass from each target after each layer, `[layers, T, R]`. */
  rollout?: Float32Tensor;
  /** Row entropy, `[layers, heads, T]`, when asked for. */
  entropy?: Float32Tensor;
  /** Head-averaged maps `[T, T]` of the layers asked for; `[C, C]` cells where the plan keeps them pooled. */
  means: Map<number, Float32Tensor>;
  /** Residual states pooled over the span-pool rows, `[states, S, hidden]`, when the plan has them. */
  states?: Float32Tensor;
}

/** Per sequence, the 0/1 columns the reductions are taken on, row-major over the tokens. */
export interface ReductionInputs {
  /** `[T × K]`: column 0 every key, column 1 the sink, then the targets. */
  keySets: Float32Array;
  /** `[T × R]`: the rollout starting vectors, when the plan has rollout. */
  rollout?: Float32Array;
  /** `[S × T]`: the span-pool rows, when the plan has states. */
  pool?: Float32Array;
}

