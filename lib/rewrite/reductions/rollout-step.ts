import { rolloutOutput, type LayerNodes } from './shared.js';

/**
 * One layer of attention rollout from the target vectors:
 * u_l = (c · mean_h(P · u_{l−1}) + r · u_{l−1}) / (c · mean_h(P · 1) + r), c = 1 − r,
 * `[batch, 1, T, R]`; P · u_{l−1} is read off the layer's key-set product.
 */
export function rolloutStep(nodes: LayerNodes, previous: string, parts: { product: string; rolloutTo: string; rowMass: string }): string {
  const { shared } = nodes;
  const spreadPerHead = nodes.add('Slice', [parts.product, shared.keySetCount, parts.rolloutTo, shared.axis.last], nodes.name('rollout_spread'));
  const spread = nodes.reduce('ReduceMean', spreadPerHead, 1, 1, nodes.name('rollout_mean'));
  const numerator = nodes.add('Add', [nodes.add('Mul', [spread, shared.mixed], nodes.name('rollout_mixed')), nodes.add('Mul', [previous, shared.kept], nodes.name('rollout_kept'))], nodes.name('rollout_numerator'));
  const rowMean = nodes.reduce('ReduceMean', parts.rowMass, 1, 1, nodes.name('row_mass_mean'));
  const denominator = nodes.add('Add', [nodes.add('Mul', [rowMean, shared.mixed], nodes.name('row_mixed')), shared.kept], nodes.name('rollout_denominator'));
  return nodes.add('Div', [numerator, denominator], rolloutOutput(nodes.layer));
}
