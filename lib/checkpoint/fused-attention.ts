import { type NodeProto, type GraphProto } from '../onnx/proto.js';

/**
 * Attention fused into one kernel never exposes its probabilities, but they are a pure
 * function of the kernel's queries and keys, its scale and its mask rule. For each
 * fused node legal-attn reads those off the node and computes P `[batch, heads, T, T]`
 * beside it (fused-probabilities.ts), in float32, with the kernel's own rule: then every
 * reduction and full map reads P as for a decomposed graph.
 */
export interface FusedAttention {
  op: 'GroupQueryAttention' | 'MultiHeadAttention' | 'Attention';
  /** The queries, or q, k and v packed when `key` is '' (GroupQueryAttention `[batch, T, (heads + 2·kv)·d]`, MultiHeadAttention `[batch, T, heads, 3, d]`). */
  query: string;
  key: string;
  /** `sequence`: `[batch, T, n·d]`; `heads`: `[batch, n, T, d]`. */
  queryLayout: 'sequence' | 'heads';
  keyLayout: 'sequence' | 'heads';
  /** Query and key heads where the node says them; 0 where the layout carries them (`heads`). */
  heads: number;
  kvHeads: number;
  /** The kernel's scale, or 0 for 1/√d. */
  scale: number;
  /** Rotary applied inside the kernel (`do_rotary`), with its half-width cos and sin tables. */
  rotary?: { cos: string; sin: string; interleaved: boolean };
  /** Key j is seen from query i only when j ≤ i. */
  causal: boolean;
  /** Keys j with i − j < window are seen from query i; -1: no window. */
  window: number;
  /** s ↦ softcap·tanh(s / softcap); 0: none. */
  softcap: number;
  /** int `[batch]`: the real keys of each sequence, as its last position (`last`) or their number (`count`). */
  realKeys?: { tensor: string; as: 'last' | 'count' };
  /** `[batch, T]`, nonzero for real keys. */
  keyPadding?: string;
  /** Added to the scaled scores, broadcast to `[batch, heads, T, T]`. */
  bias?: string;
  /** Boolean, broadcast to `[batch, heads, T, T]`: true where the key is seen. */
  allowed?: string;
  /** Element type of the query, where the graph tells (`float32`, `float16`, …). */
  type: string;
  /**
   * com.microsoft Attention: `query` is the layer's input `[batch, T, hidden]`, projected
   * inside the kernel by `weights` `[hidden, q + k + v]` and `bias` `[q + k + v]`
   * (`sizes`, or three equal parts).
   */
  projection?: { weights: string; bias: string; sizes?: [number, number, number] };
}

/** What a reader needs besides the node: element types and ranks, where the graph tells them. */
export interface GraphFacts {
  typeOf: (tensor: string) => string | undefined;
  rankOf: (tensor: string) => number | undefined;
  isGraphInput: (tensor: string) => boolean;
}

const PAST_FED = 'past key and value inputs computed inside the graph (legal-attn feeds a past only where it is a graph input, empty, and reads whole sequences in one pass)';

/**
 * Past keys and values that are graph inputs are fed empty (`buildFeeds`): the kernel
 * then attends over the sequence's own keys, as a prompt pass does. A past computed
 * inside the graph is another matter: the probabilities would depend on it.
 */
const pastNotFed = (facts: GraphFacts, ...pasts: string[]): boolean => pasts.some((p) => p !== '' && !facts.isGraphInput(p));

type Reader = (node: NodeProto, facts: GraphFacts) => FusedAttention | string;

const attribute = (node: NodeProto, name: string): number | undefined => {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  // a float attribute (scale, softcap) carries f, an int one i; the other field is absent or 0
  return a.f ? Number(a.f) : Number(a.i ?? 0);
};
const inputOf = (node: NodeProto) => (k: number): string => node.input?.[k] ?? '';
const QUERY_TYPE = (node: NodeProto, facts: GraphFacts): string => facts.typeOf(node.input?.[0] ?? '') ?? 'float32';

/** GroupQueryAttention (com.microsoft), as onnxruntime's model builder writes it. */
export const readGroupQueryAttention: Reader = (node, facts) => {
  const input = inputOf(node);
  if ((attribute(node, 'smooth_softmax') ?? 0) !== 0) return 'smooth_softmax adds a virtual zero logit legal-attn does not reproduce';
  if (input(9) !== '' || input(10) !== '') return 'position_ids or attention_bias inputs';
  const rotary = (attribute(node, 'do_rotary') ?? 0) !== 0;
  return {
    op: 'GroupQueryAttention',
    query: input(0),
    key: input(1),
    queryLayout: 'sequence',
    keyLayout: 'sequence',
    heads: attribute(node, 'num_heads') ?? 0,
    kvHeads: attribute(node, 'kv_num_heads') ?? 0,
    scale: attribute(node, 'scale') ?? 0,
    ...(rotary ? { rotary: { cos: input(7), sin: input(8), interleaved: (attribute(node, 'rotary_interleaved') ?? 0) !== 0 } } : {}),
    causal: true,
    window: attribute(node, 'local_window_size') ?? -1,
    softcap: attribute(node, 'softcap') ?? 0,
    realKeys: { tensor: input(5), as: 'last' },
    type: QUERY_TYPE(node, facts),
  };
};

/** What onnxruntime's kernels with one head count for queries and keys say alike: heads, scale, `unidirectional`; no window, no soft-cap. */
const oneHeadCount = (node: NodeProto, heads: number): Pick<FusedAttention, 'heads' | 'kvHeads' | 'scale' | 'causal' | 'window' | 'softcap'> => ({
  heads,
  kvHeads: heads,
  scale: attribute(node, 'scale') ?? 0,
  causal: (attribute(node, 'unidirectional') ?? 0) !== 0,
  window: -1,
  softcap: 0,
});

/** MultiHeadAttention (com.microsoft), as onnxruntime's transformer optimizer fuses it. */
export const readMultiHeadAttention: Reader = (node, facts) => {
  const input = inputOf(node);
  if (input(3) !== '') return 'a projection bias input, added to q, k and v inside the kernel';
  if (pastNotFed(facts, input(6), input(7))) return PAST_FED;
  const keyRank = input(1) ? facts.rankOf(input(1)) : undefined;
  if (keyRank === 5) return 'packed keys and values';
  const paddingRank = input(4) ? facts.rankOf(input(4)) : undefined;
  if (paddingRank !== undefined && paddingRank !== 2) return `a key_padding_mask of rank ${paddingRank} (legal-attn reads [batch, keys])`;
  const heads = attribute(node, 'num_heads') ?? 0;
  return {
    op: 'MultiHeadAttention',
    query: input(0),
    key: input(1),
    queryLayout: 'sequence',
    keyLayout: keyRank === 4 ? 'heads' : 'sequence',
    ...oneHeadCount(node, heads),
    ...(input(4) ? { keyPadding: input(4) } : {}),
    ...(input(5) ? { bias: input(5) } : {}),
    type: QUERY_TYPE(node, facts),
  };
};

/** ONNX's own Attention (opset 23), as PyTorch exports scaled_dot_product_attention. */
export const readOnnxAttention: Reader = (node, facts) => {
  const input = inputOf(node);
  if (pastNotFed(facts, input(4), input(5))) return PAST_FED;
  const causal = (attribute(node, 'is_causal') ?? 0) !== 0;
  // with nonpad_kv_seqlen (opset 24) onnxruntime aligns the causal mask to each sequence's end, not its start
  if (causal && input(6) !== '') return 'is_causal with nonpad_kv_seqlen (a causal mask aligned to each padded sequence\'s end)';
  if ((attribute(node, 'softcap') ?? 0) > 0) return 'softcap (not read for ONNX Attention yet)';
  const mask = input(3);
  const maskType = mask === '' ? undefined : facts.typeOf(mask);
  if (mask !== '' && maskType === undefined) return 'an attn_mask whose element type the graph does not tell (boolean and additive masks differ)';
  const heads = attribute(node, 'q_num_heads') ?? 0;
  const kvHeads = attribute(node, 'kv_num_heads') ?? 0;
  // 3-D inputs need the head counts as attributes; 4-D ones carry them (and may have the attributes too)
  const layout = (tensor: string, count: number): FusedAttention['queryLayout'] => {
    const rank = facts.rankOf(tensor);
    return rank === 4 || (rank === undefined && count === 0) ? 'heads' : 'sequence';
  };
  return {
    op: 'Attention',
    query: input(0),
    key: input(1),
    queryLayout: layout(input(0), heads),
    keyLayout: layout(input(1), kvHeads),
    heads,
    kvHeads,
    scale: attribute(node, 'scale') ?? 0,
    causal,
    window: -1,
    softcap: 0,
    ...(input(6) ? { realKeys: { tensor: input(6), as: 'count' as const } } : {}),
    ...(maskType === 'bool' ? { allowed: mask } : {}),
    ...(maskType !== undefined && maskType !== 'bool' ? { bias: mask } : {}),
    type: QUERY_TYPE(node, facts),
  };
};

/** com.microsoft Attention, as onnxruntime's optimizer fuses GPT-2- and BERT-like models: q, k and v projected inside the kernel. */
export const readProjectedAttention: Reader = (node, facts) => {
  const input = inputOf(node);
  if (pastNotFed(facts, input(4))) return PAST_FED;
  if (input(6) !== '') return 'a past_sequence_length input (legal-attn reads whole sequences in one pass)';
  if ((attribute(node, 'do_rotary') ?? 0) !== 0) return 'do_rotary (rotary tables made inside the kernel)';
  const maskRank = input(3) ? facts.rankOf(input(3)) : undefined;
  if (input(3) && maskRank !== 1 && maskRank !== 2) return `a mask_index of rank ${maskRank ?? 'unknown'} (legal-attn reads [batch] key counts and [batch, keys] padding)`;
  const heads = attribute(node, 'num_heads') ?? 0;
  if (heads <= 0) return 'no num_heads attribute';
  const sizes = node.attribute?.find((a) => a.name === 'qkv_hidden_sizes')?.ints?.map(Number);
  if (sizes && sizes[0] !== sizes[1]) return `qkv_hidden_sizes ${sizes.join(', ')}: queries and keys of different widths`;
  return {
    op: 'Attention',
    query: input(0),
    key: input(0),
    queryLayout: 'sequence',
    keyLayout: 'sequence',
    ...oneHeadCount(node, heads),
    ...(maskRank === 2 ? { keyPadding: input(3) } : {}),
    ...(maskRank === 1 ? { realKeys: { tensor: input(3), as: 'count' as const } } : {}),
    ...(input(5) ? { bias: input(5) } : {}),
    type: QUERY_TYPE(node, facts),
    projection: { weights: input(1), bias: input(2), ...(sizes?.length === 3 ? { sizes: sizes as [number, number, number] } : {}) },
  };
};

/** The fused operators legal-attn reads, by domain and type. */
const READERS = new Map<string, Reader>([
  ['com.microsoft/GroupQueryAttention', readGroupQueryAttention],
  ['com.microsoft/MultiHeadAttention', readMultiHeadAttention],
  ['/Attention', readOnnxAttention],
  ['com.microsoft/Attention', readProjectedAttention],
]);
const readerKey = (node: NodeProto): string => `${node.domain === 'ai.onnx' ? '' : (node.domain ?? '')}/${node.opType ?? ''}`;

/** Why legal-attn has no reader for a fused operator, or undefined when it has one (whose own reasons `fusedNodes` gives). */
export function unreadOperator(node: NodeProto): string | undefined {
  if (READERS.has(readerKey(node))) return undefined;
  return `${node.domain || 'ai.onnx'} ${node.opType}; legal-attn reads GroupQueryAttention, MultiHeadAttention and Attention (com.microsoft) and ONNX Attention`;
}

/** The fused nodes of a graph that legal-attn reads, in layer order, each read or with why not. */
export function fusedNodes(graph: GraphProto, facts: GraphFacts): Array<{ position: number; node: NodeProto; read: FusedAttention | string }> {
  return (graph.node ?? []).flatMap((node, position) => {
    const reader = READERS.get(readerKey(node));
    return reader ? [{ position, node, read: reader(node, facts) }] : [];
  });
}
