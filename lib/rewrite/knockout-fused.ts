import { intAttribute, type NodeList } from '../onnx/build.js';
import { FLOAT, type NodeProto } from '../onnx/proto.js';
import type { FusedAttention } from '../checkpoint/fused-attention.js';

const BOOL = 9;
const INT32 = 6;

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
}

/** Why a fused kernel cannot take the knockout mask, or undefined when it can. */
export function fusedKnockoutRefusal(node: NodeProto, fused: FusedAttention): string | undefined {
  if (MASK_INPUT[kernelOf(node)] === undefined) return `${node.domain || 'ai.onnx'} ${node.opType} takes no attention mask legal-attn knows`;
  // onnxruntime: "Attention cannot have both past and attention_bias"; the mask then goes into a 3-D mask_index, built from padding by key
  if (pastBeside(node) && fused.realKeys) return 'com.microsoft Attention with a past input takes no attention_bias, and its mask_index of key counts cannot be widened to the 3-D mask the knockout needs';
  return undefined;
}

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
 * where query i sees key j, the padding by key (if any) And Not(blocked). The kernel
 * masks with its `mask_filter_value` (−10000 unless set), under which exp underflows to 0.
 */
function withMaskIndex(node: NodeProto, fused: FusedAttention, blocked: string, layer: NodeList, l: number, facts: KernelFacts): NodeProto {
  const inputs = [...(node.input ?? [])];
  let allowed = layer.add('Not', [layer.add('Squeeze', [blocked, facts.axes([1])], `legal_attn.knockout_blocked_3d.${l}`)], `legal_attn.knockout_allowed_3d.${l}`);
  if (fused.keyPadding) {
    const padding = layer.add('Cast', [layer.add('Unsqueeze', [fused.keyPadding, facts.axes([1])], `legal_attn.knockout_padding_3d.${l}`)], `legal_attn.knockout_padding_bool.${l}`, [intAttribute('to', BOOL)]);
    allowed = layer.add('And', [padding, allowed], `legal_attn.knockout_seen_3d.${l}`);
  }
  inputs[3] = layer.add('Cast', [allowed], `legal_attn.knockout_mask_index.${l}`, [intAttribute('to', INT32)]);
  return { ...node, input: inputs };
}
