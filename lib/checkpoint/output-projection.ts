import type { AttentionSite, ValueProjection, ValueProjectionRead } from './graph-analysis.js';
import type { GraphProto, NodeProto } from '../onnx/proto.js';

// Between the Softmax and its product with the values; between the context and its merge of the heads.
const PROBABILITY_PATH = new Set(['Cast', 'Identity', 'Dropout']);

const consumerOf = (graph: GraphProto, tensor: string): NodeProto[] => (graph.node ?? []).filter((n) => (n.input ?? []).includes(tensor));
const only = (nodes: NodeProto[]): NodeProto | undefined => (nodes.length === 1 ? nodes[0] : undefined);
const permOf = (node: NodeProto): number[] => (node.attribute?.find((a) => a.name === 'perm')?.ints ?? []).map(Number);

/**
 * W_O of a decomposed layer: the context P·V followed through an optional Cast, the
 * heads-major merge Transpose(0, 2, 1, 3) → Reshape `[b, T, h·d]`, to a MatMul (or Gemm)
 * whose weight is an initializer (or a Cast of one). Every other form is named, not guessed.
 */
export function findValueProjection(graph: GraphProto, site: AttentionSite): ValueProjectionRead {
  if (site.fused) return fusedProjection(graph, site);
  if (!site.node) return { unread: `${site.label}: the model outputs its attentions; its values are not in the graph` };
  let tensor = site.output;
  let product: NodeProto | undefined;
  for (let hops = 0; hops < 4 && !product; hops++) {
    const next = only(consumerOf(graph, tensor));
    if (!next) break;
    if (next.opType === 'MatMul' && next.input?.[0] === tensor) product = next;
    else if (PROBABILITY_PATH.has(next.opType ?? '')) tensor = next.output![0]!;
    else break;
  }
  if (!product) return { unread: `${site.label}: the probabilities' product with the values is not a plain MatMul` };
  const projection = mergedProjection(graph, site.label, product.output![0]!, true);
  return typeof projection === 'string' ? { unread: projection } : weightOf(graph, site.label, product.input![1]!, projection);
}

/**
 * A fused kernel's W_O: its output `[b, T, h·d]` straight into the projection, or
 * `[b, h, T, d]` (ONNX Attention) merged heads-major first; its values are its input 2,
 * or packed with the queries.
 */
function fusedProjection(graph: GraphProto, site: AttentionSite): ValueProjectionRead {
  const kernel = graph.node?.[site.position];
  const fused = site.fused!;
  if (!kernel) return { unread: `${site.label}: the fused kernel is not found` };
  const values = fused.key === '' || fused.projection ? '' : (kernel.input?.[2] ?? '');
  const projection = mergedProjection(graph, site.label, kernel.output![0]!, false);
  return typeof projection === 'string' ? { unread: projection } : weightOf(graph, site.label, values, projection);
}

/** The projection the context `[b, h, T, d]` (or already merged `[b, T, h·d]`) meets after the heads-major merge, or why none is read. */
function mergedProjection(graph: GraphProto, label: string, context: string, mustMerge: boolean): NodeProto | string {
  let step = only(consumerOf(graph, context));
  if (step?.opType === 'Cast') step = only(consumerOf(graph, step.output![0]!));
  if (!step) return `${label}: the attention output feeds more than one node; W_O not found`;
  if (step.opType === 'Transpose' || mustMerge) {
    if (step.opType !== 'Transpose' || permOf(step).join(',') !== '0,2,1,3') return `${label}: the heads are not merged heads-major (Transpose 0,2,1,3 then Reshape); W_O not read per head`;
    const reshape = only(consumerOf(graph, step.output![0]!));
    if (reshape?.opType !== 'Reshape') return `${label}: the heads are not merged by a Reshape; W_O not read per head`;
    step = only(consumerOf(graph, reshape.output![0]!));
    if (!step) return `${label}: the merged heads feed more than one node; W_O not found`;
  }
  return step;
}

function weightOf(graph: GraphProto, label: string, values: string, projection: NodeProto): ValueProjectionRead {
  const op = projection.opType ?? '';
  if (op === 'MatMulNBits') return { unread: `${label}: o_proj is MatMulNBits 4-bit blocks; W_O not read per head` };
  const transB = op === 'Gemm' && Number(projection.attribute?.find((a) => a.name === 'transB')?.i ?? 0) === 1;
  if (op !== 'MatMul' && op !== 'Gemm') return { unread: `${label}: o_proj is ${op}; W_O not read per head` };
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  let weight = projection.input?.[1] ?? '';
  // an fp16 export's weight reaches the MatMul through a Cast of the initializer
  const cast = (graph.node ?? []).find((n) => n.output?.[0] === weight && n.opType === 'Cast');
  if (cast && initializers.has(cast.input?.[0] ?? '')) weight = cast.input![0]!;
  if (!initializers.has(weight)) {
    const producer = (graph.node ?? []).find((n) => n.output?.includes(weight));
    return { unread: `${label}: o_proj's weight is computed by ${producer?.opType ?? 'a graph input'}, not stored; W_O not read per head` };
  }
  return { values, weight, transposed: transB };
}

/**
 * Every model's W_O per layer, where every layer of every model can be read; else the
 * first reason, and the value lens is left out of the whole run (its models must be measured alike).
 */
export function valueProjectionsOf(checkpoints: ReadonlyArray<{ name: string; graph: { valueProjections?: ValueProjectionRead[] } }>): Map<string, ValueProjection[]> | string {
  const projections = new Map<string, ValueProjection[]>();
  for (const { name, graph } of checkpoints) {
    const read = graph.valueProjections ?? [];
    const unread = read.find((p): p is { unread: string } => 'unread' in p);
    if (unread) return `${name}: ${unread.unread}`;
    if (read.length === 0) return `${name}: no attention layer whose values can be read`;
    projections.set(name, read as ValueProjection[]);
  }
  return projections;
}
