import { intAttribute, intsAttribute } from '../../onnx/build.js';
import { columnSumsOutput, type LayerNodes } from './shared.js';

/**
 * The mass every key receives, `[batch, heads, 1 or 2, T]`, from which the share of any
 * span under the `all` and `after` query sets follows (causality):
 * - `plain`: Σ_i P over the queries (one unpadded sequence per pass), or over a block's
 *   real rows (`valid`, `[1, 1, B, 1]`);
 * - `weighted`: W · P with W the real queries, plain and with each row weighted
 *   1 / (row mass − sink mass), the sink-renormalised rows (padded batches, `--sink exclude`).
 */
export function columnSums(nodes: LayerNodes, p: string, mode: 'plain' | 'weighted', masses: { mass: string; rowMass: string }, valid?: string): string {
  if (mode === 'plain' && valid) {
    // a block's rows, some repeated: one product with their 0/1 weights, not a weighted copy of the block
    const weights = nodes.add('Reshape', [valid, nodes.constant(nodes.name('as_row'), [1, 1, 1, -1], [4], 'int64')], nodes.name('real_row_weights'));
    return nodes.add('MatMul', [weights, p], columnSumsOutput(nodes.layer));
  }
  if (mode === 'plain') return nodes.reduce('ReduceSum', p, -2, 1, columnSumsOutput(nodes.layer));
  const { shared } = nodes;
  const sinkMass = nodes.column(masses.mass, shared.index[1], shared.index[2], nodes.name('sink_mass'));
  const rest = nodes.add('Max', [nodes.add('Sub', [masses.rowMass, sinkMass], nodes.name('rest')), shared.tiny], nodes.name('rest_clipped'));
  // `+ 0 × rest` gives the plain weights the heads axis, so both rows can be concatenated.
  const plain = nodes.add('Add', [shared.realQueries, nodes.add('Mul', [rest, shared.zero], nodes.name('zero_heads'))], nodes.name('plain_weights'));
  const renormalised = nodes.add('Div', [shared.laterQueries, rest], nodes.name('sink_free_weights'));
  const weights = nodes.add('Concat', [plain, renormalised], nodes.name('weights'), [intAttribute('axis', -1)]);
  const rows = nodes.add('Transpose', [weights], nodes.name('weight_rows'), [intsAttribute('perm', [0, 1, 3, 2])]);
  return nodes.add('MatMul', [rows, p], columnSumsOutput(nodes.layer));
}
