import type { GraphProto, NodeProto } from './onnx-model.js';

/** Where a decoder's residual stream can be read: the state entering each layer, and the final one. */
export interface ResidualStream {
  /** `[batch, T, hidden]` tensors: entering layer 0 (the embeddings), 1, …, L−1, and leaving layer L−1 (before the final norm). */
  states: string[];
  /** Index in `graph.node` of the node producing each state. */
  positions: number[];
}

/**
 * Finds the residual stream by graph structure, not by names: it starts at the token
 * embedding (a Gather on `input_ids`) and follows the Add that takes the stream as it
 * is and adds a computed branch to it: first the attention's output, then the MLP's,
 * two per layer. A pre-norm decoder of L layers has 2L such Adds; anything else is
 * refused with the reason.
 */
export function findResidualStream(graph: GraphProto, layers: number): ResidualStream | string {
  const nodes = graph.node ?? [];
  const constants = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const consumers = new Map<string, Array<{ node: NodeProto; position: number }>>();
  nodes.forEach((node, position) => {
    if (node.opType === 'Constant') node.output?.forEach((o) => constants.add(o));
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), { node, position }]);
  });
  const ids = new Set(['input_ids', ...(consumers.get('input_ids') ?? []).filter((c) => c.node.opType === 'Cast').flatMap((c) => c.node.output ?? [])]);
  const embedding = nodes.findIndex((n) => n.opType === 'Gather' && ids.has(n.input?.[1] ?? '') && constants.has(n.input?.[0] ?? ''));
  if (embedding < 0) return 'no token embedding (a Gather of input_ids from a weight table)';
  // A quantized table is looked up, then dequantized: the stream starts at the float rows.
  let start = { tensor: nodes[embedding]!.output![0]!, position: embedding };
  const dequantized = consumers.get(start.tensor) ?? [];
  if (dequantized.length === 1 && dequantized[0]!.node.opType === 'DequantizeLinear') start = { tensor: dequantized[0]!.node.output![0]!, position: dequantized[0]!.position };
  const chain = [start];
  // The stream may pass a Cast (a norm's upcast that the exporter shares with the residual) or an Identity.
  const aliases = (tensor: string, depth = 0): string[] =>
    depth > 2 ? [tensor] : [tensor, ...(consumers.get(tensor) ?? []).filter(({ node }) => node.opType === 'Cast' || node.opType === 'Identity').flatMap(({ node }) => aliases(node.output?.[0] ?? '', depth + 1))];
  for (;;) {
    const current = chain[chain.length - 1]!.tensor;
    const next = aliases(current).flatMap((t) => consumers.get(t) ?? []).filter(({ node }) => node.opType === 'Add' && node.input?.length === 2 && node.input.every((i) => !constants.has(i)) && node.input[0] !== node.input[1]);
    if (next.length !== 1) break;
    chain.push({ tensor: next[0]!.node.output![0]!, position: next[0]!.position });
  }
  if (chain.length !== 2 * layers + 1) {
    return `the residual stream has ${chain.length - 1} residual additions where ${layers} layers have ${2 * layers} (fused normalisation such as SkipSimplifiedLayerNormalization keeps it inside kernels)`;
  }
  const kept = chain.filter((_, k) => k % 2 === 0);
  return { states: kept.map((c) => c.tensor), positions: kept.map((c) => c.position) };
}
