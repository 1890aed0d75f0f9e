import type { Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from './checkpoint.js';
import { openAttentionSession, type SessionOptions } from './session.js';

export interface TraceOptions extends SessionOptions {
  /** Sequences per forward pass, padded on the right; 1 runs them one at a time. */
  batchSize?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface SequenceAttention {
  /** Index of the sequence in the input list. */
  index: number;
  /** `[layers, heads, T, T]` attention probabilities. */
  attention: Float32Tensor;
}

/**
 * Runs one checkpoint over token id sequences and yields each sequence's attention as
 * soon as its batch is done, so the caller can reduce and write it before the next
 * one: only one batch of maps is alive at a time. The session is released at the end,
 * also when the caller stops early.
 */
export async function* traceAttention(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions = {},
): AsyncGenerator<SequenceAttention> {
  const batchSize = Math.max(1, options.batchSize ?? 1);
  const session = await openAttentionSession(checkpoint, options);
  try {
    for (let start = 0; start < sequences.length; start += batchSize) {
      const batch = sequences.slice(start, start + batchSize);
      const stacks = await session.run(batch);
      for (const [k, attention] of stacks.entries()) yield { index: start + k, attention };
      options.onProgress?.(Math.min(start + batchSize, sequences.length), sequences.length);
    }
  } finally {
    await session.release();
  }
}
