import { intAttribute, intsAttribute } from '../../onnx/build.js';
import { FLOAT } from '../../onnx/proto.js';
import type { ValueProjection } from '../../checkpoint/output-projection.js';
import { valueNormsOutput, type LayerNodes } from './shared.js';

/**
 * n_h(j) = ‖v_j W_O^h‖ for every head and key, `[batch, heads, T, 1]` in float32
 * (Kobayashi et al. 2020): through the per-head Gram matrix G_h = W_O^h W_O^hᵀ `[h, d, d]`,
 * n² = v G_h vᵀ, so that no `[batch, heads, T, hidden]` tensor exists. Computed over the
 * whole T once per layer (a blocked layer's loop reads it whole: it is indexed by keys).
 */
export function valueNormNodes(nodes: LayerNodes, projection: ValueProjection, typeOf: (tensor: string) => number | undefined): string {
  const { shared } = nodes;
  const asFloat = (tensor: string, what: string): string => (typeOf(tensor) === FLOAT ? tensor : nodes.add('Cast', [tensor], nodes.name(what), [intAttribute('to', FLOAT)]));
  const stored = asFloat(projection.weight, 'w_o_f32');
  const weight = projection.transposed ? nodes.add('Transpose', [stored], nodes.name('w_o_rows'), [intsAttribute('perm', [1, 0])]) : stored;
  const values = asFloat(projection.values, 'values_f32');
  const shape = nodes.add('Shape', [values], nodes.name('values_shape'));
  const heads = nodes.add('Slice', [shape, shared.index[1], shared.index[2]], nodes.name('value_heads'));
  const width = nodes.add('Slice', [shape, shared.index[3], shared.lastColumn], nodes.name('value_width'));
  const perHead = nodes.add('Reshape', [weight, nodes.add('Concat', [heads, width, shared.axis.last], nodes.name('w_o_heads_shape'), [intAttribute('axis', 0)])], nodes.name('w_o_heads'));
  const gram = nodes.add('MatMul', [perHead, nodes.add('Transpose', [perHead], nodes.name('w_o_heads_t'), [intsAttribute('perm', [0, 2, 1])])], nodes.name('w_o_gram'));
  const squared = nodes.reduce('ReduceSum', nodes.add('Mul', [nodes.add('MatMul', [values, gram], nodes.name('values_gram')), values], nodes.name('values_gram_values')), -1, 1, nodes.name('value_norms_squared'));
  return nodes.add('Sqrt', [nodes.add('Max', [squared, shared.zero], nodes.name('value_norms_clipped'))], valueNormsOutput(nodes.layer));
}
