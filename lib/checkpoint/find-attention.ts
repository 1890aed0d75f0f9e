import { elementTypes } from '../onnx/element-types.js';
import { fusedNodes, unreadOperator, type GraphFacts } from './fused-attention.js';
import { findTokenEmbedding } from './embedding-norms.js';
import { shapeOf } from '../onnx/initializers.js';
import { staticRank } from '../onnx/static-rank.js';
import { describeExport } from './export-format.js';
import { findValueProjection } from './output-projection.js';
import type { AttentionSite, GraphAnalysis, GraphInput } from './graph-analysis.js';
import { EXTERNAL_DATA_LOCATION, ELEMENT_TYPES, type GraphProto, type ModelProto, type NodeProto } from '../onnx/proto.js';

// Operators that sit between the query·key product and the Softmax (scale, mask, soft-cap, casts).
const SCORE_PATH = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast', 'Tanh', 'Clip', 'Min', 'Max', 'Identity']);
// Operators that sit between the Softmax and the product with the values.
const PROBABILITY_PATH = new Set(['Cast', 'Identity', 'Dropout', 'Where', 'QuantizeLinear', 'DequantizeLinear', 'DynamicQuantizeLinear']);
const PRODUCTS = new Set(['MatMul', 'FusedMatMul', 'MatMulInteger', 'QLinearMatMul', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat', 'Einsum']);
const FUSED_ATTENTION = new Set([
  'Attention',
  'MultiHeadAttention',
  'GroupQueryAttention',
  'PackedAttention',
  'PackedMultiHeadAttention',
  'DecoderMaskedMultiHeadAttention',
  'DecoderMaskedSelfAttention',
  'SparseAttention',
  'PagedAttention',
  'LongformerAttention',
]);
// Dynamically quantized scores pass MatMulInteger → Cast → Mul (scales) → scale → mask.
const MAX_HOPS = 6;
const ATTENTION_OUTPUT = /(?:^|[._/])attentions?[._/]?(\d+)$/;
const LAYER_NUMBER = /layers?[._/-]?(\d+)/i;

interface Index {
  producer: Map<string, NodeProto>;
  consumers: Map<string, NodeProto[]>;
  constants: Set<string>;
}

function indexGraph(graph: GraphProto): Index {
  const producer = new Map<string, NodeProto>();
  const consumers = new Map<string, NodeProto[]>();
  const constants = new Set<string>((graph.initializer ?? []).map((t) => t.name ?? ''));
  for (const node of graph.node ?? []) {
    for (const output of node.output ?? []) {
      producer.set(output, node);
      if (node.opType === 'Constant') constants.add(output);
    }
    for (const input of node.input ?? []) {
      const list = consumers.get(input);
      if (list) list.push(node);
      else consumers.set(input, [node]);
    }
  }
  return { producer, consumers, constants };
}

/** A product of two computed tensors (not a projection by a weight matrix). */
const isActivationProduct = (node: NodeProto, index: Index): boolean =>
  PRODUCTS.has(node.opType ?? '') && (node.input ?? []).slice(0, 2).every((name) => name !== '' && !index.constants.has(name));

/** The query·key product a tensor of scores comes from, through scaling, masking and casts. */
function queryKeyProduct(tensor: string, index: Index, hops = 0): NodeProto | undefined {
  const node = index.producer.get(tensor);
  if (!node || hops > MAX_HOPS) return undefined;
  if (isActivationProduct(node, index)) return node;
  if (!SCORE_PATH.has(node.opType ?? '')) return undefined;
  for (const input of node.input ?? []) {
    const product = index.constants.has(input) ? undefined : queryKeyProduct(input, index, hops + 1);
    if (product) return product;
  }
  return undefined;
}

function multipliedWithValues(tensor: string, index: Index, hops = 0): boolean {
  if (hops > MAX_HOPS) return false;
  return (index.consumers.get(tensor) ?? []).some((node) => {
    if (isActivationProduct(node, index) && node.input?.[0] === tensor) return true;
    return PROBABILITY_PATH.has(node.opType ?? '') && (node.output ?? []).some((out) => multipliedWithValues(out, index, hops + 1));
  });
}

function softmaxOverLastAxis(node: NodeProto): boolean {
  const axis = node.attribute?.find((a) => a.name === 'axis');
  const value = axis ? Number(axis.i ?? 0) : -1;
  return value === -1 || value === 3;
}

const labelFor = (name: string, layer: number): string => {
  const match = LAYER_NUMBER.exec(name);
  return match ? `layers.${match[1]}` : `#${layer}`;
};

/**
 * Finds each layer's attention probabilities by graph structure: a Softmax over the
 * key axis whose input comes from the query·key product (through scaling, masking,
 * casts) and whose output is multiplied with the values. Node names differ between
 * exporters, so they only label the layers; graph order (topological) orders them.
 */
export function findAttentionSoftmax(graph: GraphProto): AttentionSite[] {
  const index = indexGraph(graph);
  const types = elementTypes(graph);
  const sites: AttentionSite[] = [];
  for (const [position, node] of (graph.node ?? []).entries()) {
    const input = node.input?.[0];
    const output = node.output?.[0];
    if (node.opType !== 'Softmax' || !input || !output || !softmaxOverLastAxis(node)) continue;
    const product = queryKeyProduct(input, index);
    if (!product || !multipliedWithValues(output, index)) continue;
    const layer = sites.length;
    const type = ELEMENT_TYPES[types.get(output) ?? 1] ?? 'float32';
    sites.push({ layer, label: labelFor(node.name || output, layer), node: node.name ?? '', output, position, type, ...(product.output?.[0] ? { product: product.output[0] } : {}) });
  }
  return sites;
}

/** Each layer's fused attention kernel, read for the queries, keys and mask rule its probabilities come from. */
export function findFusedAttention(graph: GraphProto, facts: GraphFacts): { sites: AttentionSite[]; unread: Map<string, string> } {
  const sites: AttentionSite[] = [];
  const unread = new Map<string, string>();
  for (const { position, node, read } of fusedNodes(graph, facts)) {
    if (typeof read === 'string') {
      unread.set(node.name ?? '', read);
      continue;
    }
    const layer = sites.length;
    sites.push({ layer, label: labelFor(node.name || node.output?.[0] || '', layer), node: node.name ?? '', output: `legal_attn.fused_probabilities.${layer}`, position, type: 'float32', fused: read });
  }
  return { sites, unread };
}

/** Graph outputs that already carry attentions (`attentions.0`, `attentions.1`, …), ordered by layer. */
export function findAttentionOutputs(graph: GraphProto): AttentionSite[] {
  const producers = new Map((graph.node ?? []).flatMap((n, k) => (n.output ?? []).map((o) => [o, k] as const)));
  return (graph.output ?? [])
    .map((o) => ({ name: o.name ?? '', match: ATTENTION_OUTPUT.exec(o.name ?? ''), type: ELEMENT_TYPES[o.type?.tensorType?.elemType ?? 1] ?? 'float32' }))
    .filter((o): o is { name: string; match: RegExpExecArray; type: string } => o.match !== null)
    .sort((a, b) => Number(a.match[1]) - Number(b.match[1]))
    .map((o, layer) => ({ layer, label: `layers.${o.match[1]}`, node: '', output: o.name, position: producers.get(o.name) ?? -1, type: o.type }));
}

/** Softmax nodes inside the subgraphs of If, Loop and Scan nodes, at any depth. */
function softmaxInSubgraphs(graph: GraphProto): number {
  let count = 0;
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) {
      for (const sub of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) {
        count += (sub.node ?? []).filter((n) => n.opType === 'Softmax').length + softmaxInSubgraphs(sub);
      }
    }
  }
  return count;
}

function graphInputs(graph: GraphProto): GraphInput[] {
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name));
  return (graph.input ?? [])
    .filter((input) => !initializers.has(input.name))
    .map((input) => {
      const tensor = input.type?.tensorType;
      return {
        name: input.name ?? '',
        type: ELEMENT_TYPES[tensor?.elemType ?? 0] ?? `onnx-type-${tensor?.elemType ?? 0}`,
        dims: (tensor?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue ?? 0))),
      };
    });
}

/** Rows of the table a Gather looks `input_ids` up in: the tokens the model can embed. */
function embeddingRows(graph: GraphProto): number | undefined {
  const embedding = findTokenEmbedding(graph);
  return typeof embedding === 'string' ? undefined : shapeOf(embedding.table)[0];
}

/** Everything legal-attn reads off a graph, without running it. */
export function analyseGraph(model: ModelProto, graphName = 'model.onnx'): GraphAnalysis {
  const graph = model.graph ?? {};
  const outputSites = findAttentionOutputs(graph);
  const externalData = new Set<string>();
  for (const tensor of graph.initializer ?? []) {
    if (tensor.dataLocation !== EXTERNAL_DATA_LOCATION) continue;
    const location = tensor.externalData?.find((entry) => entry.key === 'location')?.value;
    if (location) externalData.add(location);
  }
  const softmaxSites = outputSites.length > 0 ? [] : findAttentionSoftmax(graph);
  const types = elementTypes(graph);
  const graphInputNames = new Set((graph.input ?? []).map((i) => i.name ?? ''));
  const facts: GraphFacts = { typeOf: (tensor) => ELEMENT_TYPES[types.get(tensor) ?? 0], rankOf: staticRank(graph), isGraphInput: (tensor) => graphInputNames.has(tensor) };
  const fused = findFusedAttention(graph, facts);
  // Fused kernels are read only where no layer exposes its probabilities otherwise.
  const attention = outputSites.length > 0 ? outputSites : softmaxSites.length > 0 ? softmaxSites : fused.sites;
  const attentionSource = outputSites.length > 0 ? 'outputs' : softmaxSites.length > 0 || fused.sites.length === 0 ? 'softmax' : 'fused';
  const analysis: GraphAnalysis = {
    irVersion: Number(model.irVersion ?? 0),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    opsets: (model.opsetImport ?? []).map((o) => ({ domain: o.domain || 'ai.onnx', version: Number(o.version ?? 0) })),
    nodeCount: graph.node?.length ?? 0,
    inputs: graphInputs(graph),
    outputs: (graph.output ?? []).map((o) => o.name ?? ''),
    attentionSource,
    attention,
    fusedAttention: (graph.node ?? [])
      .filter((node) => FUSED_ATTENTION.has(node.opType ?? ''))
      .map((node) => {
        const why = fused.unread.get(node.name ?? '') ?? unreadOperator(node);
        return { node: node.name ?? '', op: node.opType ?? '', ...(why ? { unread: why } : {}) };
      }),
    externalData: [...externalData].sort(),
    format: describeExport(graph, attention, [...externalData], graphName),
    subgraphSoftmax: softmaxInSubgraphs(graph),
    valueProjections: attention.map((site) => findValueProjection(graph, site)),
  };
  const rows = embeddingRows(graph);
  if (rows !== undefined) analysis.embeddingRows = rows;
  return analysis;
}
