import { badInput } from '../errors.js';
import { type GraphInput } from '../checkpoint/graph-analysis.js';
import { inputRole, type InputNames } from '../checkpoint/genai-config.js';

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

/**
 * What each graph input needs for one forward pass over `padded`: the ids and mask,
 * positions and token types where the export asks for them, and an empty past for
 * exports made with past key/values (optimum's `-with-past`, onnxruntime-genai's model
 * builder, onnxruntime's optimizer). Roles come from the names the folder declares
 * (`declared`, from genai_config.json), else from the names exporters give.
 */
export function buildFeeds(inputs: readonly GraphInput[], padded: PaddedBatch, graphFile: string, declared: InputNames = {}): Record<string, Feed> {
  const { batch, length } = padded;
  const feeds: Record<string, Feed> = {};
  for (const input of inputs) {
    const { name, type } = input;
    const role = inputRole(name, declared);
    if (role === 'ids') {
      feeds[name] = { type, data: asType(type, padded.ids), dims: [batch, length] };
    } else if (role === 'mask') {
      feeds[name] = { type, data: asType(type, padded.mask), dims: [batch, length] };
    } else if (role === 'positions') {
      const positions = new BigInt64Array(batch * length).map((_, k) => BigInt(k % length));
      feeds[name] = { type, data: asType(type, positions), dims: [batch, length] };
    } else if (role === 'tokenTypes') {
      feeds[name] = { type, data: asType(type, new BigInt64Array(batch * length)), dims: [batch, length] };
    } else if (role === 'cachePosition') {
      feeds[name] = { type, data: asType(type, BigInt64Array.from({ length }, (_, k) => BigInt(k))), dims: [length] };
    } else if (role === 'useCacheBranch') {
      feeds[name] = { type: 'bool', data: new Uint8Array([0]), dims: [1] };
    } else if (role === 'past') {
      feeds[name] = emptyPast(input, batch, graphFile);
    } else {
      throw badInput(`${graphFile}: model input ${name} (${type}) is not one legal-attn knows how to feed (input_ids, attention_mask, position_ids, token_type_ids, past key/values); export the model for plain text generation.`);
    }
  }
  return feeds;
}

/** A past of no tokens: `[batch, kv heads, 0, head size]`, or `[2, batch, heads, 0, head size]` with keys and values stacked (onnxruntime's optimizer). */
function emptyPast(input: GraphInput, batch: number, graphFile: string): Feed {
  const { name, type, dims } = input;
  const stacked = dims.length === 5;
  const [kvHeads, , headSize] = dims.slice(stacked ? 2 : 1);
  if ((dims.length !== 4 && !stacked) || typeof kvHeads !== 'number' || typeof headSize !== 'number') {
    throw badInput(`${graphFile}: input ${name} has no fixed key/value head count and head size (${JSON.stringify(dims)}); export with static head dimensions.`);
  }
  const data = type === 'float16' || type === 'bfloat16' ? new Uint16Array(0) : new Float32Array(0);
  return { type, data, dims: [...(stacked ? [2] : []), batch, kvHeads, 0, headSize] };
}
