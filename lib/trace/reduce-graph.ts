import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import type { AttentionSite } from './find-attention.js';

const { onnx: schema } = onnxProto;

/** Extra inputs: per sequence, K key sets as 0/1 columns over the tokens, `[batch, T, K]`; column 0 is every real key, column 1 the sink. */
export const KEY_SETS_INPUT = 'legal_attn_key_sets';
/** `[batch, T, 2]`: column 0 marks real query tokens, column 1 real query tokens after the first (the sink-excluding rows). */
export const QUERIES_INPUT = 'legal_attn_queries';
/** `[batch, T, R]`: the vectors rollout starts from, one 0/1 column per target. */
export const ROLLOUT_INPUT = 'legal_attn_rollout';

export interface ReductionPlan {
  /** Row entropy per query and head (two extra passes over each T×T map). */
  entropy: boolean;
  /** Layers whose head-averaged `[T, T]` map is returned (for the report's maps). */
  meanLayers: readonly number[];
  /** Column sums of each head's map over the real queries, plain and sink-renormalised, for any number of control spans. */
  columnSums?: boolean;
  /** Residual weight of attention rollout, computed layer by layer inside the graph; none when absent. */
  rolloutResidual?: number;
}

export const massOutput = (layer: number): string => `legal_attn.mass.${layer}`;
export const entropyOutput = (layer: number): string => `legal_attn.entropy.${layer}`;
export const meanOutput = (layer: number): string => `legal_attn.mean.${layer}`;
export const columnSumsOutput = (layer: number): string => `legal_attn.colsum.${layer}`;
export const rolloutOutput = (layer: number): string => `legal_attn.rollout.${layer}`;

const int = (name: string, value: number): onnx.IAttributeProto => ({ name, i: value, type: schema.AttributeProto.AttributeType.INT });
const ints = (name: string, values: number[]): onnx.IAttributeProto => ({ name, ints: values, type: schema.AttributeProto.AttributeType.INTS });
const floatInput = (name: string, dims: string[]): onnx.IValueInfoProto => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((dimParam) => ({ dimParam })) } } } });

/**
 * The checkpoint's graph with each layer's attention P `[batch, heads, T, T]` reduced
 * inside it, so that onnxruntime returns small tensors instead of the maps:
 * - mass: P · keySets, `[batch, heads, T, K]`: for every query, the attention on each
 *   key set (all keys, the sink, concept, components), one MatMul that writes no T×T
 *   intermediate;
 * - column sums: W · P, `[batch, heads, 2, T]`, with W the real queries and the same
 *   rows weighted 1 / (row mass − sink mass): the mass every key receives, from which
 *   the share of any span under the `all` and `after` query sets follows (causality);
 * - rollout: u_l = (c · mean_h(P · u_{l−1}) + r · u_{l−1}) / (c · mean_h(P · 1) + r),
 *   c = 1 − r, `[batch, 1, T, R]`, one matrix–vector product per layer;
 * - entropy: −Σ_j P ln P, `[batch, heads, T]` (optional);
 * - mean: the head-averaged map `[batch, T, T]` of the layers asked for.
 * Each reduction is inserted right after its layer's Softmax, and the next layer's
 * Softmax input gets `+ 0 × Σ(reductions)`, a data dependency that changes no value
 * but makes onnxruntime run the reduction (and free the probabilities) before the next
 * layer, instead of keeping every layer's probabilities alive until the end.
 */
export function reduceAttentionInGraph(modelBytes: Uint8Array, sites: readonly AttentionSite[], plan: ReductionPlan): Uint8Array {
  const model = schema.ModelProto.decode(modelBytes);
  const graph = model.graph as onnx.GraphProto;
  const opset = Number(model.opsetImport.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 17);
  const constants: onnx.ITensorProto[] = [];
  const constant = (name: string, values: number[], dims: number[], type: 'float' | 'int64'): string => {
    constants.push(type === 'float' ? { name, dims, dataType: 1, floatData: values } : { name, dims, dataType: 7, int64Data: values });
    return name;
  };
  const axisOne = constant('legal_attn.axis_1', [1], [1], 'int64');
  const lastAxis = constant('legal_attn.axis_last', [-1], [1], 'int64');
  const [zeroIndex, oneIndex, twoIndex] = [0, 1, 2].map((k) => constant(`legal_attn.index_${k}`, [k], [1], 'int64'));
  const tiny = constant('legal_attn.tiny', [1e-30], [], 'float');
  const zero = constant('legal_attn.zero', [0], [], 'float');
  const residual = plan.rolloutResidual ?? 0.5;
  const kept = constant('legal_attn.residual', [residual], [], 'float');
  const mixed = constant('legal_attn.mixed', [1 - residual], [], 'float');

  const prologue: onnx.INodeProto[] = [];
  const node = (list: onnx.INodeProto[], opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): string => {
    list.push({ opType, input, output: [output], attribute, name: `legal_attn/${output}` });
    return output;
  };
  // ReduceMean takes its axes as an input from opset 18 on, as an attribute before.
  const reduceMean = (list: onnx.INodeProto[], input: string, output: string): string =>
    opset >= 18 ? node(list, 'ReduceMean', [input, axisOne], output, [int('keepdims', 1)]) : node(list, 'ReduceMean', [input], output, [ints('axes', [1]), int('keepdims', 1)]);
  const column = (list: onnx.INodeProto[], input: string, from: string, to: string, output: string): string => node(list, 'Slice', [input, from, to, lastAxis], output);

  const keySets = node(prologue, 'Unsqueeze', [KEY_SETS_INPUT, axisOne], 'legal_attn.key_sets_4d');
  const inputs = [floatInput(KEY_SETS_INPUT, ['batch', 'seq', 'key_sets'])];
  let realQueries = '';
  let laterQueries = '';
  if (plan.columnSums) {
    const queries = node(prologue, 'Unsqueeze', [QUERIES_INPUT, axisOne], 'legal_attn.queries_4d');
    realQueries = column(prologue, queries, zeroIndex!, oneIndex!, 'legal_attn.real_queries');
    laterQueries = column(prologue, queries, oneIndex!, twoIndex!, 'legal_attn.later_queries');
    inputs.push(floatInput(QUERIES_INPUT, ['batch', 'seq', 'query_sets']));
  }
  let rollout = '';
  if (plan.rolloutResidual !== undefined) {
    rollout = node(prologue, 'Unsqueeze', [ROLLOUT_INPUT, axisOne], 'legal_attn.rollout_start');
    inputs.push(floatInput(ROLLOUT_INPUT, ['batch', 'seq', 'rollout_targets']));
  }

  const after = new Map<string, onnx.INodeProto[]>();
  const dependencies = new Map<number, string>();
  const outputs: string[] = [];

  sites.forEach((site, l) => {
    const p = site.output;
    const nodes: onnx.INodeProto[] = [];
    const add = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): string => node(nodes, opType, input, output, attribute);
    const sum = (input: string): string => add('ReduceSum', [input], `${input}.sum`, [int('keepdims', 0)]);
    const sums: string[] = [];
    const mass = add('MatMul', [p, keySets], massOutput(l));
    outputs.push(mass);
    sums.push(sum(mass));
    const rowMass = column(nodes, mass, zeroIndex!, oneIndex!, `legal_attn.row_mass.${l}`);
    if (plan.columnSums) {
      const sinkMass = column(nodes, mass, oneIndex!, twoIndex!, `legal_attn.sink_mass.${l}`);
      const rest = add('Max', [add('Sub', [rowMass, sinkMass], `legal_attn.rest.${l}`), tiny], `legal_attn.rest_clipped.${l}`);
      // `+ 0 × rest` gives the plain weights the heads axis, so both rows can be concatenated.
      const plain = add('Add', [realQueries, add('Mul', [rest, zero], `legal_attn.zero_heads.${l}`)], `legal_attn.plain_weights.${l}`);
      const renormalised = add('Div', [laterQueries, rest], `legal_attn.sink_free_weights.${l}`);
      const weights = add('Concat', [plain, renormalised], `legal_attn.weights.${l}`, [int('axis', -1)]);
      const rows = add('Transpose', [weights], `legal_attn.weight_rows.${l}`, [ints('perm', [0, 1, 3, 2])]);
      const sums2 = add('MatMul', [rows, p], columnSumsOutput(l));
      outputs.push(sums2);
      sums.push(sum(sums2));
    }
    if (plan.rolloutResidual !== undefined) {
      const spread = reduceMean(nodes, add('MatMul', [p, rollout], `legal_attn.rollout_spread.${l}`), `legal_attn.rollout_mean.${l}`);
      const numerator = add('Add', [add('Mul', [spread, mixed], `legal_attn.rollout_mixed.${l}`), add('Mul', [rollout, kept], `legal_attn.rollout_kept.${l}`)], `legal_attn.rollout_numerator.${l}`);
      const rowMean = reduceMean(nodes, rowMass, `legal_attn.row_mass_mean.${l}`);
      const denominator = add('Add', [add('Mul', [rowMean, mixed], `legal_attn.row_mixed.${l}`), kept], `legal_attn.rollout_denominator.${l}`);
      rollout = add('Div', [numerator, denominator], rolloutOutput(l));
      outputs.push(rollout);
      sums.push(sum(rollout));
    }
    if (plan.entropy) {
      const plogp = add('Mul', [p, add('Log', [add('Max', [p, tiny], `legal_attn.clipped.${l}`)], `legal_attn.log.${l}`)], `legal_attn.plogp.${l}`);
      const entropy = add('Neg', [add('ReduceSum', [plogp, lastAxis], `legal_attn.neg_entropy.${l}`, [int('keepdims', 0)])], entropyOutput(l));
      outputs.push(entropy);
      sums.push(sum(entropy));
    }
    if (plan.meanLayers.includes(l)) {
      const mean = opset >= 18 ? add('ReduceMean', [p, axisOne], meanOutput(l), [int('keepdims', 0)]) : add('ReduceMean', [p], meanOutput(l), [ints('axes', [1]), int('keepdims', 0)]);
      outputs.push(mean);
      sums.push(sum(mean));
    }
    const total = sums.slice(1).reduce((acc, s, k) => add('Add', [acc, s], `legal_attn.sum.${l}.${k}`), sums[0]!);
    dependencies.set(l + 1, add('Mul', [total, zero], `legal_attn.dependency.${l}`));
    after.set(site.node, nodes);
  });

  // Rebuild the node list: reductions right after their Softmax, and the next Softmax fed through the dependency.
  const softmaxLayer = new Map(sites.map((site, l) => [site.node, l]));
  const nodes: onnx.INodeProto[] = [...prologue];
  for (const original of graph.node) {
    const layer = softmaxLayer.get(original.name ?? '');
    const dependency = layer === undefined ? undefined : dependencies.get(layer);
    const input = original.input ?? [];
    if (dependency && input[0]) {
      const fed = `legal_attn.scores.${layer}`;
      nodes.push({ opType: 'Add', input: [input[0], dependency], output: [fed], name: `legal_attn/${fed}` });
      input[0] = fed;
    }
    nodes.push(original);
    nodes.push(...(after.get(original.name ?? '') ?? []));
  }
  graph.node = nodes;
  graph.initializer.push(...constants);
  graph.input.push(...inputs);
  graph.output.push(...outputs.map((name) => ({ name })));
  return schema.ModelProto.encode(model).finish();
}

/** Whether our protobuf schema reads this graph whole (re-encoding it gives the same bytes' length). */
export function roundTripsWhole(modelBytes: Uint8Array): boolean {
  return schema.ModelProto.encode(schema.ModelProto.decode(modelBytes)).finish().length === modelBytes.length;
}
