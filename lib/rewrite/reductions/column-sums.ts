import { intAttribute, intsAttribute } from '../../onnx/build.js';
import { columnSumsOutput, type LayerNodes } from './shared.js';

/**
 * The mass every key receives, `[batch, heads, 1 or 2, T]`, from which the share of any
 * span under the `all` and `after` query sets follows (causality):
 * - `plain`: Σ_i P over the queries (one unpadded sequence per pass), or over a block's
 *   real rows (`valid`, `[1, 1, B, 1]`);
 * - `weighted`: W · P with W the real queries, plain and with each row weighted
 *   1 / (row mass − sink mass), the sink-renormalised rows (padded batches, `--sink exclude`);
 *   with value masses, a third row weighted 1 / (value row mass − value sink mass), whose
 *   sums times each key's value norm give the value-weighted sink-free column sums.
 */
export function columnSums(nodes: LayerNodes, p: string, mode: 'plain' | 'weighted', masses: { mass: string; rowMass: string; valueMass?: string }, valid?: string): string {
  if (mode === 'plain' && valid) {
    // a block's rows, some repeated: one product with their 0/1 weights, not a weighted copy of the block
    const weights = nodes.add('Reshape', [valid, nodes.constant(nodes.name('as_row'), [1, 1, 1, -1], [4], 'int64')], nodes.name('real_row_weights'));
    return nodes.add('MatMul', [weights, p], columnSumsOutput(nodes.layer));
  }
  if (mode === 'plain') return nodes.reduce('ReduceSum', p, -2, 1, columnSumsOutput(nodes.layer));
  const { shared } = nodes;
  const rest = sinkFreeMass(nodes, masses.mass, '');
  // `+ 0 × rest` gives the plain weights the heads axis, so both rows can be concatenated.
  const plain = nodes.add('Add', [shared.realQueries, nodes.add('Mul', [rest, shared.zero], nodes.name('zero_heads'))], nodes.name('plain_weights'));
  const renormalised = nodes.add('Div', [shared.laterQueries, rest], nodes.name('sink_free_weights'));
  const valueRenormalised = masses.valueMass ? [nodes.add('Div', [shared.laterQueries, sinkFreeMass(nodes, masses.valueMass, 'value_')], nodes.name('value_sink_free_weights'))] : [];
  const weights = nodes.add('Concat', [plain, renormalised, ...valueRenormalised], nodes.name('weights'), [intAttribute('axis', -1)]);
  const rows = nodes.add('Transpose', [weights], nodes.name('weight_rows'), [intsAttribute('perm', [0, 1, 3, 2])]);
  return nodes.add('MatMul', [rows, p], columnSumsOutput(nodes.layer));
}

/** Each row's mass off the sink, `[batch, heads, T, 1]`, kept above 0: row mass (column 0) − sink mass (column 1). */
function sinkFreeMass(nodes: LayerNodes, mass: string, what: string): string {
  const { shared } = nodes;
  const rowMass = nodes.column(mass, shared.index[0], shared.index[1], nodes.name(`${what}row_total`));
  const sinkMass = nodes.column(mass, shared.index[1], shared.index[2], nodes.name(`${what}sink_mass`));
  return nodes.add('Max', [nodes.add('Sub', [rowMass, sinkMass], nodes.name(`${what}rest`)), shared.tiny], nodes.name(`${what}rest_clipped`));
}
