import { intAttribute } from '../../onnx/build.js';
import type { AffineScores } from './affine-scores.js';
import { entropyOutput, type LayerNodes } from './shared.js';

/** Where a layer's entropy reads what it needs. */
export interface EntropyInputs {
  /** float32 probabilities `[batch, heads, T, T]`. */
  p: string;
  /** The Softmax's input. */
  scores: string;
  /** Scores affine in q·k, when they are: Σ p·z is then read off P·K. */
  affine?: AffineScores;
  /** Each query's own key, where `affine.keys` are not row for row its queries (a block of them). */
  ownKeys?: string;
  /** Whether a constant of the graph holds −∞ (scores then clipped, so that 0 × z stays 0). */
  infiniteMasks: boolean;
  mass: string;
  rowMass: string;
  product: string;
  keysFrom: string;
}

/**
 * Row entropy −Σ_j p_j ln p_j, `[batch, heads, T]`, without a logarithm over the T×T map:
 * with p = exp(z) / Z, ln p_j = z_j − ln Z for any key j the query sees, so
 * H = ln Z − Σ_j p_j z_j, ln Z taken at the query's own key or the sink, whichever it
 * attends to more. Σ_j p_j z_j is c · q · (P·K)_i where z = c · (q · k_j) + mask (mask 0
 * where p > 0), else one elementwise pass over the scores.
 */
export function entropy(nodes: LayerNodes, inputs: EntropyInputs): string {
  const { shared } = nodes;
  const { p, affine } = inputs;
  const [zero, one, two] = shared.index;
  const z = affine ? '' : inputs.infiniteMasks ? nodes.add('Max', [inputs.scores, shared.lowest], nodes.name('finite_scores')) : inputs.scores;
  const diagonal = nodes.add('Expand', [shared.diagonalIndex, nodes.add('Shape', [inputs.rowMass], nodes.name('row_shape'))], nodes.name('diagonal'));
  const ownProbability = nodes.add('GatherElements', [p, diagonal], nodes.name('own_probability'), [intAttribute('axis', -1)]);
  const sinkProbability = nodes.column(inputs.mass, one, two, nodes.name('sink_probability'));
  // Affine scores are recomputed from q and k at the two keys, without touching the T×T scores.
  const scaled = (input: string, name: string): string => (affine ? nodes.add(affine.scale.op, [input, affine.scale.value], name) : input);
  const ownScore = affine
    ? scaled(nodes.reduce('ReduceSum', nodes.add('Mul', [affine.query, inputs.ownKeys ?? affine.keys], nodes.name('query_own_key')), -1, 1, nodes.name('own_product')), nodes.name('own_score'))
    : nodes.add('GatherElements', [z, diagonal], nodes.name('own_score'), [intAttribute('axis', -1)]);
  const sinkScore = affine
    ? scaled(nodes.reduce('ReduceSum', nodes.add('Mul', [affine.query, nodes.add('Slice', [affine.keys, zero, one, two], nodes.name('sink_key'))], nodes.name('query_sink_key')), -1, 1, nodes.name('sink_product')), nodes.name('sink_score'))
    : nodes.column(z, zero, one, nodes.name('sink_score'));
  const logPartition4d = nodes.add(
    'Where',
    [
      nodes.add('Greater', [ownProbability, sinkProbability], nodes.name('own_is_larger')),
      nodes.add('Sub', [ownScore, nodes.add('Log', [ownProbability], nodes.name('log_own'))], nodes.name('partition_by_own')),
      nodes.add('Sub', [sinkScore, nodes.add('Log', [sinkProbability], nodes.name('log_sink'))], nodes.name('partition_by_sink')),
    ],
    nodes.name('log_partition_4d'),
  );
  const logPartition = nodes.add('Squeeze', [logPartition4d, shared.axis.last], nodes.name('log_partition'));
  const expected = affine
    ? nodes.add(
        affine.scale.op,
        [nodes.reduce('ReduceSum', nodes.add('Mul', [affine.query, nodes.add('Slice', [inputs.product, inputs.keysFrom, shared.lastColumn, shared.axis.last], nodes.name('attended_keys'))], nodes.name('query_attended_keys')), -1, 0, nodes.name('expected_product')), affine.scale.value],
        nodes.name('expected_score'),
      )
    : nodes.reduce('ReduceSum', nodes.add('Mul', [p, z], nodes.name('weighted_scores')), -1, 0, nodes.name('expected_score'));
  return nodes.add('Sub', [logPartition, expected], entropyOutput(nodes.layer));
}

/**
 * Row entropy −Σ_j p ln p elementwise, for half-precision probabilities, whose few
 * digits make ln Z − Σ p·z too coarse; p is their float32 copy.
 */
export function entropyOfProbabilities(nodes: LayerNodes, p: string): string {
  const logP = nodes.add('Log', [nodes.add('Max', [p, nodes.shared.tiny], nodes.name('p_clipped'))], nodes.name('log_p'));
  return nodes.add('Neg', [nodes.reduce('ReduceSum', nodes.add('Mul', [p, logP], nodes.name('p_log_p')), -1, 0, nodes.name('sum_p_log_p'))], entropyOutput(nodes.layer));
}
