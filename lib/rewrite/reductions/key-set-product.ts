import { intAttribute } from '../../onnx/build.js';
import { massOutput, valueMassOutput, type LayerNodes } from './shared.js';

/** One MatMul over a layer's probabilities, and where its parts lie. */
export interface KeySetProduct {
  /** P · key sets, `[batch, heads, T, K]`: each query's attention on every key, the sink, the concept and components. */
  mass: string;
  /** Column 0 of the mass: each query's total attention (1 on real rows, 0 on padding). */
  rowMass: string;
  /** P · [key sets | rollout vectors | n ⊙ key sets | keys], or '' when the key sets are all it multiplies. */
  product: string;
  /** Where the rollout columns end in `product`: K + R. */
  rolloutTo: string;
  /** Where the keys' columns start in `product`: K + R (+ K with value-weighted columns). */
  keysFrom: string;
  /** P · (n ⊙ key sets), `[batch, heads, T, K]`: the value-weighted masses Σ_j α_ij ‖v_j W_O^h‖, where value norms were given. */
  valueMass?: string;
}

/**
 * P · [key sets | u_{l−1} | n ⊙ key sets | K]: one pass over the probabilities for the
 * key-set masses, the rollout step, the value-weighted masses (n `[batch, heads, T, 1]`,
 * the value norms) and, where the scores are affine in q·k, P·K for the entropy. The key
 * sets and rollout vectors are shared by the heads; next to per-head columns they are
 * expanded to every head.
 */
export function keySetProduct(nodes: LayerNodes, p: string, options: { rollout?: string; keys?: string; valueNorms?: string }): KeySetProduct {
  const { shared } = nodes;
  const [, one, two] = shared.index;
  const perHeadSource = options.keys ?? options.valueNorms;
  const headsShape = perHeadSource
    ? nodes.add('Concat', [one, nodes.add('Slice', [nodes.add('Shape', [perHeadSource], nodes.name('keys_shape')), one, two], nodes.name('heads')), one, one], nodes.name('heads_shape'), [intAttribute('axis', 0)])
    : '';
  const perHead = (input: string, what: string): string => (headsShape ? nodes.add('Expand', [input, headsShape], nodes.name(`${what}_per_head`)) : input);
  const weighted = options.valueNorms ? nodes.add('Mul', [options.valueNorms, shared.keySets], nodes.name('value_key_sets')) : '';
  const multiplied = [perHead(shared.keySets, 'key_sets'), ...(options.rollout ? [perHead(options.rollout, 'rollout')] : []), ...(weighted ? [weighted] : []), ...(options.keys ? [options.keys] : [])];
  const product = multiplied.length > 1 ? nodes.add('MatMul', [p, nodes.add('Concat', multiplied, nodes.name('columns'), [intAttribute('axis', -1)])], nodes.name('product')) : '';
  const mass = product ? nodes.add('Slice', [product, shared.index[0], shared.keySetCount, shared.axis.last], massOutput(nodes.layer)) : nodes.add('MatMul', [p, shared.keySets], massOutput(nodes.layer));
  const valuesFrom = options.rollout ? nodes.add('Add', [shared.keySetCount, shared.rolloutCount], nodes.name('columns_before_values')) : shared.keySetCount;
  const valuesTo = weighted ? nodes.add('Add', [valuesFrom, shared.keySetCount], nodes.name('columns_before_keys')) : valuesFrom;
  const valueMass = weighted ? { valueMass: nodes.add('Slice', [product, valuesFrom, valuesTo, shared.axis.last], valueMassOutput(nodes.layer)) } : {};
  return { mass, rowMass: nodes.column(mass, shared.index[0], one, nodes.name('row_mass')), product, rolloutTo: valuesFrom, keysFrom: valuesTo, ...valueMass };
}
