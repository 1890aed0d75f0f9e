import type { Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from './checkpoint.js';
import { openAttentionSession, type AttentionSession, type SessionOptions } from './session.js';
import { TraceCache } from './trace-cache.js';

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

export interface CachedSequenceAttention extends SequenceAttention {
  /** True when the maps came from the trace cache instead of a forward pass. */
  cached: boolean;
}

/**
 * `traceAttention` through the trace cache: each sequence already traced with the same
 * weights, tokenizer and ids is read back (its checksum verified), the others are run
 * and stored as soon as they are done, so an interrupted run loses nothing. The model
 * is loaded only if something is missing.
 */
export async function* traceAttentionCached(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions & { cache?: TraceCache } = {},
): AsyncGenerator<CachedSequenceAttention> {
  const cache = options.cache ?? new TraceCache(checkpoint.cacheDir);
  const batchSize = Math.max(1, options.batchSize ?? 1);
  const keyOf = (ids: BigInt64Array) => ({ model: checkpoint.contentHash, tokenizer: checkpoint.tokenizerHash, ids });
  let session: AttentionSession | undefined;
  let done = 0;
  let pending: number[] = [];
  try {
    const flush = async function* (): AsyncGenerator<CachedSequenceAttention> {
      if (pending.length === 0) return;
      session ??= await openAttentionSession(checkpoint, options);
      const stacks = await session.run(pending.map((i) => sequences[i]!));
      for (const [k, attention] of stacks.entries()) {
        const index = pending[k]!;
        await cache.put(keyOf(sequences[index]!), attention);
        yield { index, attention, cached: false };
      }
      done += pending.length;
      options.onProgress?.(done, sequences.length);
      pending = [];
    };
    for (const [index, ids] of sequences.entries()) {
      const hit = await cache.get(keyOf(ids));
      if (hit) {
        yield { index, attention: hit, cached: true };
        options.onProgress?.(++done, sequences.length);
        continue;
      }
      pending.push(index);
      if (pending.length >= batchSize) yield* flush();
    }
    yield* flush();
  } finally {
    await session?.release();
  }
}
