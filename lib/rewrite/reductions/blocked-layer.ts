import { attentionStretch, blockedLoop, stretchOnBlock, type BlockOutput } from '../blocked-attention.js';
import type { BlockBody } from '../upstream-rows.js';
import { intAttribute } from '../../onnx/build.js';
import { affineScores } from './affine-scores.js';
import { layerReductions, type LayerReductionInputs } from './layer-reductions.js';
import { columnSumsOutput, entropyOutput, LayerNodes, massOutput, meanOutput, rolloutOutput, valueMassOutput, type Shared } from './shared.js';
import { valueNormNodes } from './value-norms.js';
import { type ReductionPlan } from '../reduction-plan.js';
import { type NodeProto, FLOAT, type GraphProto } from '../../onnx/proto.js';

/** A blocked layer: the nodes placed after its product with the values, the positions it leaves out, and its outputs. */
export interface BlockedLayer {
  after: number;
  nodes: NodeProto[];
  removed: number[];
  outputs: string[];
  rollout?: string;
}

/**
 * Layer `l` as a loop over blocks of `plan.blockRows` queries (see `blocked-attention.ts`),
 * with the same reductions as the unblocked layer, each on the block's rows; undefined
 * where the layer's stretch is not a plain MatMul chain.
 */
export function blockedLayer(
  graph: GraphProto,
  producer: ReadonlyMap<string, NodeProto>,
  rankOf: (tensor: string) => number | undefined,
  softmax: NodeProto,
  product: string | undefined,
  shared: Shared,
  plan: ReductionPlan,
  l: number,
  previousRollout: string,
  infiniteMasks: boolean,
  waitFor: readonly string[],
  typeOf: (tensor: string) => number | undefined,
): BlockedLayer | undefined {
  const stretch = attentionStretch(graph, softmax, product);
  if (!stretch || !plan.blockRows) return undefined;
  const outputs: string[] = [];
  let rollout: string | undefined;
  // the value norms are indexed by keys: made once over the whole T before the loop, read whole by each block
  const outside = new LayerNodes(shared, l);
  const projection = plan.valueWeighted?.[l];
  const valueNorms = projection ? valueNormNodes(outside, projection, typeOf) : undefined;
  if (valueNorms) outputs.push(valueNorms);
  const loop = blockedLoop(l, shared.length, plan.blockRows, (body) => {
    // the model's own stretch, on the block's queries
    const { queries: q, scores, probabilities, context } = stretchOnBlock(body, stretch, graph, rankOf);
    // Every reduction in float32, whatever the export's precision; the context keeps the layer's own type.
    const contextType = typeOf(stretch.values.output![0]!);
    const halfPrecision = typeOf(probabilities) !== undefined && typeOf(probabilities) !== FLOAT;
    const reducedP = halfPrecision ? body.nodes.add('Cast', [probabilities], `legal_attn.block_p_f32.${l}`, [intAttribute('to', FLOAT)]) : probabilities;
    // Scores affine in q·k: the entropy's Σ p·z is read off P·K, as in whole layers, not from a pass over the block's scores.
    const affine = plan.entropy && !plan.readScores && !halfPrecision ? affineScores(graph, producer, softmax) : undefined;
    // the keys are 4-D: their Transpose in the score path has a 4-axis perm
    const blockAffine = affine ? { affine: { ...affine, query: q }, ownKeys: body.rowsOf(affine.keys, 'own_keys', 4) } : {};
    const reduced = blockReductions(body, { shared, plan, layer: l, p: reducedP, scores, previousRollout, infiniteMasks, halfPrecision, ...blockAffine, ...(valueNorms ? { valueNorms } : {}) });
    if (reduced.rollout) rollout = reduced.rollout;
    outputs.push(...reduced.outputs.map((o) => o.outer));
    return [{ inner: context, outer: stretch.values.output![0]!, rows: 2, rank: 4, ...(contextType !== undefined && contextType !== FLOAT ? { elemType: contextType } : {}) }, ...reduced.outputs];
  }, waitFor);
  return { after: stretch.positions[stretch.positions.length - 1]!, nodes: [...outside.nodes, ...loop.nodes], removed: stretch.positions, outputs, ...(rollout ? { rollout } : {}) };
}

/** The shared tensors as a block sees them: the query-indexed ones cut to its rows, repeated rows weighed 0. */
function blockView(body: BlockBody, shared: Shared): Shared {
  const weighed = (tensor: string, what: string): string => (tensor ? body.nodes.add('Mul', [body.rowsOf(tensor, what, 4), body.valid], `legal_attn.block_view.${what}`) : tensor);
  const asColumn = body.nodes.constant('legal_attn.block_view.as_column', [1, 1, -1, 1], [4], 'int64');
  return {
    ...shared,
    realQueries: weighed(shared.realQueries, 'real_queries'),
    laterQueries: weighed(shared.laterQueries, 'later_queries'),
    diagonalIndex: body.nodes.add('Reshape', [body.rows, asColumn], 'legal_attn.block_view.diagonal_index'),
  };
}

/** What a block's reductions read: a layer's, but P and the scores of the block's rows. */
export type BlockReductionInputs = Omit<LayerReductionInputs, 'block'> & { shared: Shared; plan: ReductionPlan; layer: number };

/**
 * Every reduction of one block's rows, as a whole layer takes them (`layerReductions`):
 * query-indexed tensors cut to the rows, repeated rows weighed 0, column sums as partial sums.
 */
export function blockReductions(body: BlockBody, inputs: BlockReductionInputs): { outputs: BlockOutput[]; rollout?: string } {
  const { shared, plan, layer: l, ...layer } = inputs;
  const nodes = new LayerNodes(blockView(body, shared), l);
  const reduced = layerReductions(nodes, plan, { ...layer, block: { rowsOf: (tensor) => body.rowsOf(tensor, 'rollout', 4), valid: body.valid } });
  body.nodes.nodes.push(...nodes.nodes);
  const outputs: BlockOutput[] = [{ inner: reduced.mass, outer: massOutput(l), rows: 2, rank: 4 }];
  if (reduced.valueMass) outputs.push({ inner: reduced.valueMass, outer: valueMassOutput(l), rows: 2, rank: 4 });
  if (reduced.columnSums) outputs.push({ inner: reduced.columnSums, outer: columnSumsOutput(l), rows: 'sum', rank: 4 });
  if (reduced.rollout) outputs.push({ inner: reduced.rollout, outer: rolloutOutput(l), rows: 2, rank: 4 });
  if (reduced.entropy) outputs.push({ inner: reduced.entropy, outer: entropyOutput(l), rows: 2, rank: 3 });
  if (reduced.mean) outputs.push({ inner: reduced.mean, outer: meanOutput(l), rows: 1, rank: 3 });
  return { outputs, ...(reduced.rollout ? { rollout: reduced.rollout } : {}) };
}
