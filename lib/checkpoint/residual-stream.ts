import { type GraphProto, type NodeProto } from '../onnx/proto.js';
import { idTensors, isEmbedLayerNormalization } from './token-ids.js';

/** Where a decoder's residual stream can be read: the state entering each layer, and the final one. */
export interface ResidualStream {
  /** `[batch, T, hidden]` tensors: entering layer 0 (the embeddings), 1, …, L−1, and leaving layer L−1 (before the final norm). */
  states: string[];
  /** Index in `graph.node` of the node producing each state. */
  positions: number[];
  /**
   * States a fused normalisation adds up without returning the sum (its optional
   * `input_skip_bias_sum` output left out): the tensors it adds (input, skip and any
   * bias), which legal-attn adds itself into the state's name; undefined for states that
   * are tensors of the graph.
   */
  sums: Array<string[] | undefined>;
}

// Kernels that add the residual and normalise in one (onnxruntime's optimizer and model builder write them); output 3 is the sum.
const FUSED_RESIDUAL = new Set(['SkipSimplifiedLayerNormalization', 'SkipLayerNormalization']);

interface Link {
  tensor: string;
  position: number;
  sum?: string[];
}

/**
 * Finds the residual stream by graph structure, not by names: it starts at the token
 * embedding (`streamStart`) and follows the Add that takes the stream as it
 * is and adds a computed branch to it (or the fused Skip…Normalization that adds and
 * normalises in one): first the attention's output, then the MLP's, two per layer. A
 * pre-norm decoder of L layers has 2L such additions; anything else is refused with
 * the reason.
 */
export function findResidualStream(graph: GraphProto, layers: number): ResidualStream | string {
  const nodes = graph.node ?? [];
  const constants = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const consumers = new Map<string, Array<{ node: NodeProto; position: number }>>();
  nodes.forEach((node, position) => {
    if (node.opType === 'Constant') node.output?.forEach((o) => constants.add(o));
    for (const input of node.input ?? []) consumers.set(input, [...(consumers.get(input) ?? []), { node, position }]);
  });
  const start = streamStart(nodes, consumers, constants);
  if (typeof start === 'string') return start;
  const chain: Link[] = [start];
  // The stream may pass a Cast (a norm's upcast that the exporter shares with the residual) or an Identity.
  const aliases = (tensor: string, depth = 0): string[] =>
    depth > 2 ? [tensor] : [tensor, ...(consumers.get(tensor) ?? []).filter(({ node }) => node.opType === 'Cast' || node.opType === 'Identity').flatMap(({ node }) => aliases(node.output?.[0] ?? '', depth + 1))];
  for (;;) {
    const current = chain[chain.length - 1]!.tensor;
    const own = aliases(current);
    const next = own.flatMap((t) => consumers.get(t) ?? []).filter(({ node }) => isResidualAddition(node, own, constants));
    if (next.length !== 1) break;
    const { node, position } = next[0]!;
    if (node.opType === 'Add') {
      chain.push({ tensor: node.output![0]!, position });
      continue;
    }
    const sum = node.output?.[3] ?? '';
    // without its sum output, the state is the kernel's input + skip (+ bias, input 4), added beside it
    const terms = [node.input![0]!, node.input![1]!, ...((node.input?.[4] ?? '') !== '' ? [node.input![4]!] : [])];
    chain.push(sum !== '' ? { tensor: sum, position } : { tensor: `legal_attn.residual_sum.${chain.length}`, position, sum: terms });
  }
  if (chain.length !== 2 * layers + 1) {
    return `the residual stream has ${chain.length - 1} residual additions where ${layers} layers have ${2 * layers}`;
  }
  const kept = chain.filter((_, k) => k % 2 === 0);
  return { states: kept.map((c) => c.tensor), positions: kept.map((c) => c.position), sums: kept.map((c) => c.sum) };
}

/**
 * The embeddings entering layer 0: the rows a Gather of the ids reads from a weight table
 * (dequantized, where the table is quantized), or the sum onnxruntime's fused
 * EmbedLayerNormalization returns as its output 2 (the normalised output 0 feeds the first
 * attention; the residual goes on from the sum).
 */
function streamStart(nodes: readonly NodeProto[], consumers: ReadonlyMap<string, Array<{ node: NodeProto; position: number }>>, constants: ReadonlySet<string>): Link | string {
  const ids = idTensors(nodes);
  const fused = nodes.findIndex((n) => isEmbedLayerNormalization(n) && ids.has(n.input?.[0] ?? ''));
  if (fused >= 0) {
    const sum = nodes[fused]!.output?.[2] ?? '';
    if (sum === '') return `${nodes[fused]!.name ?? 'EmbedLayerNormalization'} returns no embedding sum (its output 2), so the residual stream does not start from it`;
    return { tensor: sum, position: fused };
  }
  const embedding = nodes.findIndex((n) => n.opType === 'Gather' && ids.has(n.input?.[1] ?? '') && constants.has(n.input?.[0] ?? ''));
  if (embedding < 0) return 'no token embedding (a Gather of input_ids from a weight table)';
  // A quantized table is looked up, then dequantized: the stream starts at the float rows.
  const start: Link = { tensor: nodes[embedding]!.output![0]!, position: embedding };
  const dequantized = consumers.get(start.tensor) ?? [];
  if (dequantized.length === 1 && dequantized[0]!.node.opType === 'DequantizeLinear') return { tensor: dequantized[0]!.node.output![0]!, position: dequantized[0]!.position };
  return start;
}

/** An Add of the stream and a computed branch, or a fused kernel that adds the stream as its input or skip. */
function isResidualAddition(node: NodeProto, stream: readonly string[], constants: ReadonlySet<string>): boolean {
  const inputs = node.input ?? [];
  if (node.opType === 'Add') return inputs.length === 2 && inputs.every((i) => !constants.has(i)) && inputs[0] !== inputs[1];
  return FUSED_RESIDUAL.has(node.opType ?? '') && node.domain === 'com.microsoft' && stream.some((t) => t === inputs[0] || t === inputs[1]);
}
