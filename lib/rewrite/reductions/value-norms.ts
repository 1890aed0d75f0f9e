import { intAttribute, intsAttribute } from '../../onnx/build.js';
import { FLOAT } from '../../onnx/proto.js';
import type { FusedAttention } from '../../checkpoint/fused-attention.js';
import type { ValueProjection } from '../../checkpoint/graph-analysis.js';
import { fusedValues } from '../fused-probabilities.js';
import { valueNormsOutput, type LayerNodes } from './shared.js';

/**
 * n_h(j) = ‖v_j W_O^h‖ for every head and key, `[batch, heads, T, 1]` in float32
 * (Kobayashi et al. 2020): through the per-head Gram matrix G_h = W_O^h W_O^hᵀ `[h, d, d]`,
 * n² = v G_h vᵀ, so that no `[batch, heads, T, hidden]` tensor exists. The values come by
 * kv head, `[batch, kv, T, d]` (each query head of a group against its one kv head, none
 * repeated; a decomposed layer's are already one per head). Computed over the whole T
 * once per layer: a blocked layer's loop reads it whole, it is indexed by keys.
 */
export function valueNormNodes(nodes: LayerNodes, projection: ValueProjection, typeOf: (tensor: string) => number | undefined, fused?: FusedAttention): string {
  const { shared } = nodes;
  const [first, one, two, three] = shared.index;
  const asFloat = (tensor: string, what: string): string => (typeOf(tensor) === FLOAT ? tensor : nodes.add('Cast', [tensor], nodes.name(what), [intAttribute('to', FLOAT)]));
  const stored = asFloat(projection.weight, 'w_o_f32');
  const weight = projection.transposed ? nodes.add('Transpose', [stored], nodes.name('w_o_rows'), [intsAttribute('perm', [1, 0])]) : stored;
  const values = fused ? fusedValues(nodes, fused, projection.values, nodes.layer) : asFloat(projection.values, 'values_f32');
  const shape = nodes.add('Shape', [values], nodes.name('values_shape'));
  const dim = (from: string, to: string, what: string): string => nodes.add('Slice', [shape, from, to], nodes.name(what));
  const [batch, kv, length, width] = [dim(first, one, 'value_batch'), dim(one, two, 'value_heads'), dim(two, three, 'value_length'), dim(three, shared.lastColumn, 'value_width')];
  const concat = (parts: string[], what: string): string => nodes.add('Concat', parts, nodes.name(what), [intAttribute('axis', 0)]);
  // W_O `[h·d, hidden]` as `[h, d, hidden]`, its Gram matrices grouped by kv head `[kv, group, d, d]`
  const hidden = nodes.add('Slice', [nodes.add('Shape', [weight], nodes.name('w_o_shape')), one, two], nodes.name('w_o_hidden'));
  const perHead = nodes.add('Reshape', [weight, concat([shared.axis.last, width, hidden], 'w_o_heads_shape')], nodes.name('w_o_heads'));
  const gram = nodes.add('MatMul', [perHead, nodes.add('Transpose', [perHead], nodes.name('w_o_heads_t'), [intsAttribute('perm', [0, 2, 1])])], nodes.name('w_o_gram'));
  const grouped = nodes.add('Reshape', [gram, concat([kv, shared.axis.last, width, width], 'gram_groups_shape')], nodes.name('w_o_gram_groups'));
  const byGroup = shared.opset >= 13 ? nodes.add('Unsqueeze', [values, two], nodes.name('values_by_group')) : nodes.add('Unsqueeze', [values], nodes.name('values_by_group'), [intsAttribute('axes', [2])]);
  const squared = nodes.reduce('ReduceSum', nodes.add('Mul', [nodes.add('MatMul', [byGroup, grouped], nodes.name('values_gram')), byGroup], nodes.name('values_gram_values')), -1, 1, nodes.name('value_norms_grouped'));
  const byHead = nodes.add('Reshape', [squared, concat([batch, shared.axis.last, length, one], 'value_norms_shape')], nodes.name('value_norms_squared'));
  return nodes.add('Sqrt', [nodes.add('Max', [byHead, shared.zero], nodes.name('value_norms_clipped'))], valueNormsOutput(nodes.layer));
}
