import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import type { AttentionSite } from './find-attention.js';

const { onnx: schema } = onnxProto;

/** The extra input: per sequence, K key sets as 0/1 columns over the tokens, `[batch, T, K]`. */
export const KEY_SETS_INPUT = 'legal_attn_key_sets';

export interface ReductionPlan {
  /** Row entropy per query and head (two extra passes over each T×T map). */
  entropy: boolean;
  /** Layers whose head-averaged `[T, T]` map is returned (for the report's maps). */
  meanLayers: readonly number[];
}

export const massOutput = (layer: number): string => `legal_attn.mass.${layer}`;
export const entropyOutput = (layer: number): string => `legal_attn.entropy.${layer}`;
export const meanOutput = (layer: number): string => `legal_attn.mean.${layer}`;

const int = (name: string, value: number): onnx.IAttributeProto => ({ name, i: value, type: schema.AttributeProto.AttributeType.INT });
const ints = (name: string, values: number[]): onnx.IAttributeProto => ({ name, ints: values, type: schema.AttributeProto.AttributeType.INTS });

/**
 * The checkpoint's graph with each layer's attention reduced inside it, so that
 * onnxruntime returns small tensors instead of `[batch, heads, T, T]` maps:
 * - mass: P · keySets, `[batch, heads, T, K]`: for every query, the attention on each
 *   key set (concept, components, controls, all keys, the sink), one MatMul that
 *   writes no T×T intermediate;
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
  const tiny = constant('legal_attn.tiny', [1e-30], [], 'float');
  const zero = constant('legal_attn.zero', [0], [], 'float');

  const keySets = 'legal_attn.key_sets_4d';
  const prologue: onnx.INodeProto[] = [{ opType: 'Unsqueeze', input: [KEY_SETS_INPUT, axisOne], output: [keySets], name: 'legal_attn/key_sets' }];
  const after = new Map<string, onnx.INodeProto[]>();
  const dependencies = new Map<number, string>();
  const outputs: string[] = [];

  sites.forEach((site, l) => {
    const p = site.output;
    const nodes: onnx.INodeProto[] = [];
    const add = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): string => {
      nodes.push({ opType, input, output: [output], attribute, name: `legal_attn/${output}` });
      return output;
    };
    const sums: string[] = [];
    const mass = add('MatMul', [p, keySets], massOutput(l));
    outputs.push(mass);
    sums.push(add('ReduceSum', [mass], `legal_attn.mass_sum.${l}`, [int('keepdims', 0)]));
    if (plan.entropy) {
      const plogp = add('Mul', [p, add('Log', [add('Max', [p, tiny], `legal_attn.clipped.${l}`)], `legal_attn.log.${l}`)], `legal_attn.plogp.${l}`);
      const entropy = add('Neg', [add('ReduceSum', [plogp, lastAxis], `legal_attn.neg_entropy.${l}`, [int('keepdims', 0)])], entropyOutput(l));
      outputs.push(entropy);
      sums.push(add('ReduceSum', [entropy], `legal_attn.entropy_sum.${l}`, [int('keepdims', 0)]));
    }
    if (plan.meanLayers.includes(l)) {
      const mean = opset >= 18 ? add('ReduceMean', [p, axisOne], meanOutput(l), [int('keepdims', 0)]) : add('ReduceMean', [p], meanOutput(l), [ints('axes', [1]), int('keepdims', 0)]);
      outputs.push(mean);
      sums.push(add('ReduceSum', [mean], `legal_attn.mean_sum.${l}`, [int('keepdims', 0)]));
    }
    const total = sums.slice(1).reduce((acc, s, k) => add('Add', [acc, s], `legal_attn.sum.${l}.${k}`), sums[0]!);
    dependencies.set(l + 1, add('Mul', [total, zero], `legal_attn.dependency.${l}`));
    after.set(site.node, nodes);
  });

  // Rebuild the node list: reductions right after their Softmax, and the next Softmax fed through the dependency.
  const softmaxLayer = new Map(sites.map((site, l) => [site.node, l]));
  const nodes: onnx.INodeProto[] = [...prologue];
  for (const node of graph.node) {
    const layer = softmaxLayer.get(node.name ?? '');
    const dependency = layer === undefined ? undefined : dependencies.get(layer);
    const input = node.input ?? [];
    if (dependency && input[0]) {
      const fed = `legal_attn.scores.${layer}`;
      nodes.push({ opType: 'Add', input: [input[0], dependency], output: [fed], name: `legal_attn/${fed}` });
      input[0] = fed;
    }
    nodes.push(node);
    nodes.push(...(after.get(node.name ?? '') ?? []));
  }
  graph.node = nodes;
  graph.initializer.push(...constants);
  graph.input.push({ name: KEY_SETS_INPUT, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimParam: 'key_sets' }] } } } });
  graph.output.push(...outputs.map((name) => ({ name })));
  return schema.ModelProto.encode(model).finish();
}

/** Whether our protobuf schema reads this graph whole (re-encoding it gives the same bytes' length). */
export function roundTripsWhole(modelBytes: Uint8Array): boolean {
  return schema.ModelProto.encode(schema.ModelProto.decode(modelBytes)).finish().length === modelBytes.length;
}
