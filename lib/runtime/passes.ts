import type { Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { openAttentionSession, openReducedSession, type AttentionSession, type ReducedSession, type SessionOptions } from './session.js';
import { TraceCache, type CacheParts } from './trace-cache.js';

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
  for await (const { index, attention } of traceAttentionCached(checkpoint, sequences, { ...options, useCache: false })) yield { index, attention };
}

export interface CachedSequenceAttention extends SequenceAttention {
  /** True when the maps came from the trace cache instead of a forward pass. */
  cached: boolean;
}

export interface CacheOptions {
  cache?: TraceCache;
  /** Read and fill the trace cache (default true). */
  useCache?: boolean;
}

/** One sequence's tensors, from a forward pass or from the trace cache. */
export interface CachedPass {
  index: number;
  parts: CacheParts;
  cached: boolean;
}

/**
 * The trace cache around batched forward passes: each sequence already run with the
 * same weights, tokenizer, ids and `variant` (what was kept of the pass) is read back,
 * its checksum verified; the others are run `batchSize` at a time and stored as soon as
 * they are done, so an interrupted run loses nothing. `run` is only called (and the
 * model loaded) if something is missing. Cached sequences come first, the rest as
 * their batches finish.
 */
export async function* passesThroughCache(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: Pick<TraceOptions, 'batchSize' | 'onProgress'> & CacheOptions & { variant?: (index: number) => string },
  run: (indices: number[]) => Promise<CacheParts[]>,
): AsyncGenerator<CachedPass> {
  const cache = options.cache ?? new TraceCache(checkpoint.cacheDir);
  const useCache = options.useCache !== false;
  const batchSize = Math.max(1, options.batchSize ?? 1);
  const keyOf = (index: number) => {
    const variant = options.variant?.(index);
    return { model: checkpoint.contentHash, tokenizer: checkpoint.tokenizerHash, ids: sequences[index]!, ...(variant ? { variant } : {}) };
  };
  let done = 0;
  let pending: number[] = [];
  const runPending = async function* (): AsyncGenerator<CachedPass> {
    if (pending.length === 0) return;
    const results = await run(pending);
    for (const [k, parts] of results.entries()) {
      const index = pending[k]!;
      if (useCache) await cache.put(keyOf(index), parts);
      yield { index, parts, cached: false };
    }
    done += pending.length;
    options.onProgress?.(done, sequences.length);
    pending = [];
  };
  for (let index = 0; index < sequences.length; index++) {
    const hit = useCache ? await cache.get(keyOf(index)) : undefined;
    if (hit) {
      yield { index, parts: hit, cached: true };
      options.onProgress?.(++done, sequences.length);
      continue;
    }
    pending.push(index);
    if (pending.length >= batchSize) yield* runPending();
  }
  yield* runPending();
}

/** `traceAttention` through the trace cache (`passesThroughCache`). */
export async function* traceAttentionCached(
  checkpoint: Checkpoint,
  sequences: readonly BigInt64Array[],
  options: TraceOptions & CacheOptions = {},
): AsyncGenerator<CachedSequenceAttention> {
  let session: AttentionSession | undefined;
  try {
    const passes = passesThroughCache(checkpoint, sequences, options, async (indices) => {
      session ??= await openAttentionSession(checkpoint, options);
      return (await session.run(indices.map((i) => sequences[i]!))).map((attention) => ({ attention }));
    });
    for await (const { index, parts, cached } of passes) yield { index, attention: parts.attention!, cached };
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
  options: TraceOptions & CacheOptions = {},
): AsyncGenerator<SequenceHeadMeans> {
  const layers = checkpoint.graph.attention.length;
  const plan = { entropy: false, meanLayers: Array.from({ length: layers }, (_, l) => l) };
  // The reduced graph always takes key sets; every key and the sink are the smallest.
  const keySets = (T: number): Float32Array => Float32Array.from({ length: T * 2 }, (_, k) => (k % 2 === 0 || k === 1 ? 1 : 0));
  let session: ReducedSession | undefined;
  try {
    const passes = passesThroughCache(checkpoint, sequences, { ...options, variant: () => 'head-means' }, async (indices) => {
      session ??= await openReducedSession(checkpoint, plan, options);
      const batch = indices.map((i) => sequences[i]!);
      const results = await session.run(batch, batch.map((ids) => ({ keySets: keySets(ids.length) })));
      return results.map((result, k) => {
        const T = batch[k]!.length;
        const data = new Float32Array(layers * T * T);
        for (let l = 0; l < layers; l++) data.set(result.means.get(l)!.data, l * T * T);
        return { mean: { data, dims: [layers, T, T] } };
      });
    });
    for await (const { index, parts, cached } of passes) yield { index, mean: parts.mean!, cached };
  } finally {
    await session?.release();
  }
}
