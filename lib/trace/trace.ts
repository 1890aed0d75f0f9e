import type { Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from './checkpoint.js';
import { openAttentionSession, openReducedSession, type AttentionSession, type ReducedSession, type SessionOptions } from './session.js';
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

/** One sequence's result, from a forward pass or from the trace cache. */
interface CachedResult<R> {
  index: number;
  value: R;
  cached: boolean;
}

/**
 * The trace cache around batched forward passes: each sequence already run with the
 * same weights, tokenizer, ids and variant is read back (its checksum verified), the
 * others are run `batchSize` at a time and stored as soon as they are done, so an
 * interrupted run loses nothing. `run` is only called (and the model loaded) if
 * something is missing.
 */
async function* throughCache(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions & { cache?: TraceCache; useCache?: boolean; variant?: string },
  run: (batch: BigInt64Array[]) => Promise<Float32Tensor[]>,
): AsyncGenerator<CachedResult<Float32Tensor>> {
  const cache = options.cache ?? new TraceCache(checkpoint.cacheDir);
  const useCache = options.useCache !== false;
  const batchSize = Math.max(1, options.batchSize ?? 1);
  const keyOf = (ids: BigInt64Array) => ({ model: checkpoint.contentHash, tokenizer: checkpoint.tokenizerHash, ids, ...(options.variant ? { variant: options.variant } : {}) });
  let done = 0;
  let pending: number[] = [];
  const flush = async function* (): AsyncGenerator<CachedResult<Float32Tensor>> {
    if (pending.length === 0) return;
    const values = await run(pending.map((i) => sequences[i]!));
    for (const [k, value] of values.entries()) {
      const index = pending[k]!;
      if (useCache) await cache.put(keyOf(sequences[index]!), value);
      yield { index, value, cached: false };
    }
    done += pending.length;
    options.onProgress?.(done, sequences.length);
    pending = [];
  };
  for (const [index, ids] of sequences.entries()) {
    const hit = useCache ? await cache.get(keyOf(ids)) : undefined;
    if (hit) {
      yield { index, value: hit, cached: true };
      options.onProgress?.(++done, sequences.length);
      continue;
    }
    pending.push(index);
    if (pending.length >= batchSize) yield* flush();
  }
  yield* flush();
}

/** `traceAttention` through the trace cache (`throughCache`). */
export async function* traceAttentionCached(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions & { cache?: TraceCache } = {},
): AsyncGenerator<CachedSequenceAttention> {
  let session: AttentionSession | undefined;
  try {
    const passes = throughCache(checkpoint, sequences, options, async (batch) => {
      session ??= await openAttentionSession(checkpoint, options);
      return session.run(batch);
    });
    for await (const { index, value, cached } of passes) yield { index, attention: value, cached };
  } finally {
    await session?.release();
  }
}

export interface SequenceHeadMeans {
  index: number;
  /** `[layers, T, T]` head-averaged attention, computed inside the graph. */
  mean: Float32Tensor;
  cached: boolean;
}

/**
 * Head-averaged maps of every layer, averaged inside the graph (`reduce-graph.ts`) so
 * that no `[heads, T, T]` map is ever returned; through the trace cache like full maps.
 */
export async function* traceHeadMeansCached(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions & { cache?: TraceCache; useCache?: boolean } = {},
): AsyncGenerator<SequenceHeadMeans> {
  const layers = checkpoint.graph.attention.length;
  const plan = { entropy: false, meanLayers: Array.from({ length: layers }, (_, l) => l) };
  // The reduced graph always takes key sets; every key and the sink are the smallest.
  const keySets = (T: number): Float32Array => Float32Array.from({ length: T * 2 }, (_, k) => (k % 2 === 0 || k === 1 ? 1 : 0));
  let session: ReducedSession | undefined;
  try {
    const passes = throughCache(checkpoint, sequences, { ...options, variant: 'head-means' }, async (batch) => {
      session ??= await openReducedSession(checkpoint, plan, options);
      const results = await session.run(batch, batch.map((ids) => ({ keySets: keySets(ids.length) })));
      return results.map((result, k) => {
        const T = batch[k]!.length;
        const data = new Float32Array(layers * T * T);
        for (let l = 0; l < layers; l++) data.set(result.means.get(l)!.data, l * T * T);
        return { data, dims: [layers, T, T] };
      });
    });
    for await (const { index, value, cached } of passes) yield { index, mean: value, cached };
  } finally {
    await session?.release();
  }
}
