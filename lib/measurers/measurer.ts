import { type Float32Tensor } from '../io/npy.js';
import { type SequenceMeasures } from '../measure/measure-sequence.js';
import { type StateRow } from '../represent/span-rows.js';
import { type SessionOptions } from '../runtime/session.js';
import { type PlannedSequence } from '../plan/planned-sequence.js';
import { type SequenceMaps } from '../results/trace-folder.js';
import { type MapsMode } from '../measure/maps-mode.js';

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
  /** Queries per block where attention runs in blocks over these sequences; undefined: whole layers. */
  blockRows?(planned: readonly PlannedSequence[]): number | undefined;
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

export { blockRowsFor, DEFAULT_ATTENTION_BYTES } from '../runtime/attention-blocks.js';

/**
 * Sequences per pass when none is asked for: short texts gain from padding several into
 * one pass (the bench: 139 sequences of 28–56 tokens, 183 ms one at a time, 145 ms eight
 * at a time); long ones do not, and padding would multiply their T×T maps.
 */
export function autoBatchSize(lengths: readonly number[]): number {
  return Math.max(0, ...lengths) <= 256 ? 8 : 1;
}
