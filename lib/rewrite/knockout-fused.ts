import { intAttribute, type NodeList } from '../onnx/build.js';
import { FLOAT, type NodeProto } from '../onnx/proto.js';
import type { FusedAttention } from '../checkpoint/fused-attention.js';

const BOOL = 9;
const INT32 = 6;
const INT64 = 7;

/**
 * The input through which each fused kernel takes a mask over `[batch, heads or 1, T, T]`:
 * attention_bias (additive) for onnxruntime's kernels, attn_mask (boolean or additive) for
 * ONNX's. Checked on onnxruntime 1.30's CPU kernels against decomposed twins: each adds
 * the bias after its soft-cap, window and causal mask, beside an empty past too, except
 * com.microsoft Attention, which refuses attention_bias beside any past (`withMaskIndex`).
 */
const MASK_INPUT: Readonly<Record<string, number>> = {
  'com.microsoft/GroupQueryAttention': 10,
  'com.microsoft/MultiHeadAttention': 5,
  'com.microsoft/Attention': 5,
  '/Attention': 3,
};
const kernelOf = (node: NodeProto): string => `${node.domain === 'ai.onnx' ? '' : (node.domain ?? '')}/${node.opType ?? ''}`;

/** What the edit needs of the graph around a kernel. */
export interface KernelFacts {
  typeOf: (tensor: string) => number | undefined;
  /** The type's lowest finite value, as a scalar tensor of that type. */
  lowest: (type: number) => string;
  /** 0 as a scalar tensor of that type. */
  zero: (type: number) => string;
  /** An int64 axes tensor. */
  axes: (values: number[]) => string;
  /** A named int64 constant. */
  int64: (name: string, values: number[], dims: number[]) => string;
}

/** Why a fused kernel cannot take the knockout mask, or undefined when it can (every kernel read today can: this guards one read later). */
export const fusedKnockoutRefusal = (node: NodeProto): string | undefined =>
  MASK_INPUT[kernelOf(node)] === undefined ? `${node.domain || 'ai.onnx'} ${node.opType} takes no attention mask legal-attn knows` : undefined;

const pastBeside = (node: NodeProto): boolean => kernelOf(node) === 'com.microsoft/Attention' && (node.input?.[4] ?? '') !== '';

/**
 * A copy of a fused kernel whose mask input also blocks the knocked-out pairs:
 * `blocked` is bool `[rows, 1, T, T]`. An additive bias becomes the score type's
 * lowest value there (where the kernel has a bias already, it is kept elsewhere; an
 * added lowest would overflow to −∞); a boolean mask is And-ed with Not(blocked).
 */
export function knockedOutKernel(node: NodeProto, fused: FusedAttention, blocked: string, layer: NodeList, l: number, facts: KernelFacts): NodeProto {
  if (pastBeside(node)) return withMaskIndex(node, fused, blocked, layer, l, facts);
  const position = MASK_INPUT[kernelOf(node)]!;
  const inputs = [...(node.input ?? [])];
  while (inputs.length <= position) inputs.push('');
  const existing = inputs[position]!;
  const existingType = existing === '' ? undefined : facts.typeOf(existing);
  if (kernelOf(node) === '/Attention' && (existing === '' || existingType === BOOL)) {
    const allowed = layer.add('Not', [blocked], `legal_attn.knockout_allowed.${l}`);
    inputs[position] = existing === '' ? allowed : layer.add('And', [existing, allowed], `legal_attn.knockout_mask.${l}`);
  } else {
    // the bias is of the query's type (or the additive mask's own)
    const type = existingType ?? facts.typeOf(inputs[0]!) ?? FLOAT;
    inputs[position] = layer.add('Where', [blocked, facts.lowest(type), existing === '' ? facts.zero(type) : existing], `legal_attn.knockout_bias.${l}`);
  }
  return { ...node, input: inputs };
}

/**
 * com.microsoft Attention beside a past: its mask_index becomes int32 `[rows, T, T]`, 1
 * where query i sees key j: the keys its 2-D padding or 1-D key counts let through (if
 * any), And Not(blocked). The kernel masks with its `mask_filter_value` (−10000 unless
 * set), under which exp underflows to 0.
 */
function withMaskIndex(node: NodeProto, fused: FusedAttention, blocked: string, layer: NodeList, l: number, facts: KernelFacts): NodeProto {
  const inputs = [...(node.input ?? [])];
  let allowed = layer.add('Not', [layer.add('Squeeze', [blocked, facts.axes([1])], `legal_attn.knockout_blocked_3d.${l}`)], `legal_attn.knockout_allowed_3d.${l}`);
  if (fused.keyPadding) {
    const padding = layer.add('Cast', [layer.add('Unsqueeze', [fused.keyPadding, facts.axes([1])], `legal_attn.knockout_padding_3d.${l}`)], `legal_attn.knockout_padding_bool.${l}`, [intAttribute('to', BOOL)]);
    allowed = layer.add('And', [padding, allowed], `legal_attn.knockout_seen_3d.${l}`);
  }
  if (fused.realKeys) allowed = layer.add('And', [keysBefore(fused.realKeys.tensor, blocked, layer, l, facts), allowed], `legal_attn.knockout_seen_3d.${l}`);
  inputs[3] = layer.add('Cast', [allowed], `legal_attn.knockout_mask_index.${l}`, [intAttribute('to', INT32)]);
  return { ...node, input: inputs };
}

/** bool `[rows, 1, T]`: key j is one of the sequence's first `counts` (a 1-D mask_index, as the kernel reads it). */
function keysBefore(counts: string, blocked: string, layer: NodeList, l: number, facts: KernelFacts): string {
  const length = layer.add('Squeeze', [layer.add('Slice', [layer.add('Shape', [blocked], `legal_attn.knockout_blocked_dims.${l}`), facts.axes([3]), facts.int64('legal_attn.knockout_dim_end', [4], [1]), facts.axes([0])], `legal_attn.knockout_length_1d.${l}`), facts.axes([0])], `legal_attn.knockout_length.${l}`);
  const positions = layer.add('Range', [facts.int64('legal_attn.knockout_zero_i64', [0], []), length, facts.int64('legal_attn.knockout_one_i64', [1], [])], `legal_attn.knockout_positions.${l}`);
  const bound = layer.add('Reshape', [layer.add('Cast', [counts], `legal_attn.knockout_counts_i64.${l}`, [intAttribute('to', INT64)]), facts.int64('legal_attn.knockout_count_shape', [-1, 1, 1], [3])], `legal_attn.knockout_count_bound.${l}`);
  return layer.add('Less', [layer.add('Unsqueeze', [positions, facts.axes([0, 1])], `legal_attn.knockout_positions_3d.${l}`), bound], `legal_attn.knockout_counted_keys.${l}`);
}
