import { badInput } from '../errors.js';
import { type GraphInput } from '../checkpoint/graph-analysis.js';

export type FeedData = BigInt64Array | Int32Array | Float32Array | Uint8Array | Uint16Array;

/** One model input as plain data; `lib/runtime/session.ts` turns it into an onnxruntime tensor. */
export interface Feed {
  type: string;
  data: FeedData;
  dims: number[];
}

/** A batch padded on the right to its longest sequence: left-aligned tokens keep their positions. */
export interface PaddedBatch {
  ids: BigInt64Array;
  mask: BigInt64Array;
  lengths: number[];
  batch: number;
  length: number;
}

export function padBatch(sequences: readonly BigInt64Array[], padId: bigint): PaddedBatch {
  const batch = sequences.length;
  const length = Math.max(...sequences.map((s) => s.length));
  const ids = new BigInt64Array(batch * length).fill(padId);
  const mask = new BigInt64Array(batch * length);
  sequences.forEach((sequence, b) => {
    ids.set(sequence, b * length);
    mask.fill(1n, b * length, b * length + sequence.length);
  });
  return { ids, mask, lengths: sequences.map((s) => s.length), batch, length };
}

const asType = (type: string, values: BigInt64Array): FeedData => (type === 'int32' ? Int32Array.from(values, (v) => Number(v)) : values);

/** A graph's inputs once it is widened from bfloat16 to float32 (`rewrite/widen-bfloat16.ts`): the bfloat16 ones are fed float32. */
export const widenedInputs = (inputs: readonly GraphInput[]): GraphInput[] => inputs.map((input) => (input.type === 'bfloat16' ? { ...input, type: 'float32' } : input));

const PAST = /^past_key_values\.\d+\.(key|value)$|^past\.\d+\.(key|value)$/;

/**
 * What each graph input needs for one forward pass over `padded`: the ids and mask,
 * positions and token types where the export asks for them, and an empty past for
 * exports made with past key/values (`--task text-generation-with-past`).
 */
export function buildFeeds(inputs: readonly GraphInput[], padded: PaddedBatch, graphFile: string): Record<string, Feed> {
  const { batch, length } = padded;
  const feeds: Record<string, Feed> = {};
  for (const input of inputs) {
    const { name, type } = input;
    if (name === 'input_ids') {
      feeds[name] = { type, data: asType(type, padded.ids), dims: [batch, length] };
    } else if (name === 'attention_mask') {
      feeds[name] = { type, data: asType(type, padded.mask), dims: [batch, length] };
    } else if (name === 'position_ids') {
      const positions = new BigInt64Array(batch * length).map((_, k) => BigInt(k % length));
      feeds[name] = { type, data: asType(type, positions), dims: [batch, length] };
    } else if (name === 'token_type_ids') {
      feeds[name] = { type, data: asType(type, new BigInt64Array(batch * length)), dims: [batch, length] };
    } else if (name === 'cache_position') {
      feeds[name] = { type, data: asType(type, BigInt64Array.from({ length }, (_, k) => BigInt(k))), dims: [length] };
    } else if (name === 'use_cache_branch') {
      feeds[name] = { type: 'bool', data: new Uint8Array([0]), dims: [1] };
    } else if (PAST.test(name)) {
      const [, kvHeads, , headSize] = input.dims;
      if (typeof kvHeads !== 'number' || typeof headSize !== 'number') {
        throw badInput(`${graphFile}: input ${name} has no fixed key/value head count and head size (${JSON.stringify(input.dims)}); export with static head dimensions.`);
      }
      const data = type === 'float16' || type === 'bfloat16' ? new Uint16Array(0) : new Float32Array(0);
      feeds[name] = { type, data, dims: [batch, kvHeads, 0, headSize] };
    } else {
      throw badInput(`${graphFile}: model input ${name} (${type}) is not one legal-attn knows how to feed (input_ids, attention_mask, position_ids, token_type_ids, past key/values); export the model for plain text generation.`);
    }
  }
  return feeds;
}
