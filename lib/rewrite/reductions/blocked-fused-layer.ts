import { blockedLoop } from '../blocked-attention.js';
import type { FusedAttention } from '../../checkpoint/fused-attention.js';
import { fusedScores, probabilitiesFrom } from '../fused-probabilities.js';
import { upstreamRows } from '../upstream-rows.js';
import { blockReductions } from './blocked-layer.js';
import { LayerNodes, type Shared } from './shared.js';
import { valueNormNodes } from './value-norms.js';
import { type ReductionPlan } from '../reduction-plan.js';
import { type NodeProto, type GraphProto } from '../../onnx/proto.js';

/**
 * A fused layer's reductions as a loop over blocks of queries: P is computed a block's
 * rows at a time from the kernel's queries and keys, `[heads, B, T]` instead of
 * `[heads, T, T]`. The kernel itself stays in the graph and gives the context.
 */
export function blockedFusedLayer(
  graph: GraphProto,
  rankOf: (tensor: string) => number | undefined,
  fused: FusedAttention,
  shared: Shared,
  plan: ReductionPlan & { blockRows: number },
  l: number,
  previousRollout: string,
  infiniteMasks: boolean,
  waitFor: readonly string[],
  typeOf: (tensor: string) => number | undefined,
): { nodes: NodeProto[]; outputs: string[]; rollout?: string } {
  const { nodes: prelude, scores: parts } = fusedScores(fused, l);
  // the value norms, indexed by keys: made once over the whole T, read whole by each block
  const outside = new LayerNodes(shared, l);
  const projection = plan.valueWeighted?.[l];
  const valueNorms = projection ? valueNormNodes(outside, projection, typeOf, fused) : undefined;
  // the mask rule's rows are made in the block from what it is made of: the model's nodes and the prelude's
  const made: GraphProto = { node: [...(graph.node ?? []), ...prelude.nodes] };
  const outputs: string[] = valueNorms ? [valueNorms] : [];
  let rollout: string | undefined;
  const loop = blockedLoop(l, shared.length, plan.blockRows, (body) => {
    const rowsOf = upstreamRows(body, made, rankOf);
    // the grouped queries `[batch, kv, group, T, d]`: their rows are on axis −2 too
    const grouped = body.rowsOf(parts.grouped, 'grouped_queries', 5);
    const probabilities = `legal_attn.fused.block_p.${l}`;
    const scores = probabilitiesFrom(body.nodes, parts, grouped, rowsOf, l, probabilities);
    const reduced = blockReductions(body, { shared, plan, layer: l, p: probabilities, scores, previousRollout, infiniteMasks, halfPrecision: false, ...(valueNorms ? { valueNorms } : {}) });
    if (reduced.rollout) rollout = reduced.rollout;
    outputs.push(...reduced.outputs.map((o) => o.outer));
    return reduced.outputs;
  }, waitFor);
  return { nodes: [...prelude.nodes, ...outside.nodes, ...loop.nodes], outputs, ...(rollout ? { rollout } : {}) };
}
