import { intAttribute } from '../../onnx/build.js';
import { massOutput, type LayerNodes } from './shared.js';

/** One MatMul over a layer's probabilities, and where its parts lie. */
export interface KeySetProduct {
  /** P · key sets, `[batch, heads, T, K]`: each query's attention on every key, the sink, the concept and components. */
  mass: string;
  /** Column 0 of the mass: each query's total attention (1 on real rows, 0 on padding). */
  rowMass: string;
  /** P · [key sets | rollout vectors | keys], or '' when the key sets are all it multiplies. */
  product: string;
  /** Where the keys' columns start in `product`: K + R. */
  keysFrom: string;
}

/**
 * P · [key sets | u_{l−1} | K]: one pass over the probabilities for the key-set masses,
 * the rollout step and, where the scores are affine in q·k, P·K for the entropy. The
 * key sets and rollout vectors are shared by the heads; next to K (`[batch, heads, T, d]`)
 * they are expanded to every head.
 */
export function keySetProduct(nodes: LayerNodes, p: string, options: { rollout?: string; keys?: string }): KeySetProduct {
  const { shared } = nodes;
  const [, one, two] = shared.index;
  const headsShape = options.keys
    ? nodes.add('Concat', [one, nodes.add('Slice', [nodes.add('Shape', [options.keys], nodes.name('keys_shape')), one, two], nodes.name('heads')), one, one], nodes.name('heads_shape'), [intAttribute('axis', 0)])
    : '';
  const perHead = (input: string, what: string): string => (options.keys ? nodes.add('Expand', [input, headsShape], nodes.name(`${what}_per_head`)) : input);
  const multiplied = [perHead(shared.keySets, 'key_sets'), ...(options.rollout ? [perHead(options.rollout, 'rollout')] : []), ...(options.keys ? [options.keys] : [])];
  const product = multiplied.length > 1 ? nodes.add('MatMul', [p, nodes.add('Concat', multiplied, nodes.name('columns'), [intAttribute('axis', -1)])], nodes.name('product')) : '';
  const mass = product ? nodes.add('Slice', [product, shared.index[0], shared.keySetCount, shared.axis.last], massOutput(nodes.layer)) : nodes.add('MatMul', [p, shared.keySets], massOutput(nodes.layer));
  const keysFrom = options.rollout ? nodes.add('Add', [shared.keySetCount, shared.rolloutCount], nodes.name('columns_before_keys')) : shared.keySetCount;
  return { mass, rowMass: nodes.column(mass, shared.index[0], one, nodes.name('row_mass')), product, keysFrom };
}
