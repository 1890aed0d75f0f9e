import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import type { AttentionSite } from './find-attention.js';
import { decodeModel, FLOAT32, INT64 } from './onnx-model.js';
import { editGraph } from './onnx-wire.js';

const { onnx: schema } = onnxProto;

/** Extra inputs: per sequence, K key sets as 0/1 columns over the tokens, `[batch, T, K]`; column 0 is every real key, column 1 the sink. */
export const KEY_SETS_INPUT = 'legal_attn_key_sets';
/** `[batch, T, 2]`: column 0 marks real query tokens, column 1 real query tokens after the first (the sink-excluding rows). */
export const QUERIES_INPUT = 'legal_attn_queries';
/** `[batch, T, R]`: the vectors rollout starts from, one 0/1 column per target. */
export const ROLLOUT_INPUT = 'legal_attn_rollout';

/** Part of the cached graph's name: bump it whenever the graph this module writes changes, so older cached graphs are not reused. */
export const REDUCTION_FORMAT = 3;

export interface ReductionPlan {
  /** Row entropy per query and head. */
  entropy: boolean;
  /** Layers whose head-averaged `[T, T]` map is returned (for the report's maps). */
  meanLayers: readonly number[];
  /**
   * Column sums of each head's map, for any number of control spans: `plain`, over every
   * query (one unpadded sequence per pass); `weighted`, over the real queries, plain and
   * sink-renormalised (padded batches, the sink excluded).
   */
  columnSums?: 'plain' | 'weighted';
  /** Take the entropy's Σ p·z from the T×T scores even where they are affine in q·k (the path of other graphs). */
  readScores?: boolean;
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
 *   key set (all keys, the sink, concept, components); the same MatMul carries the
 *   rollout vector and, for the entropy, the keys;
 * - column sums, `[batch, heads, 1 or 2, T]`: Σ_i P over the queries (`plain`), or W · P
 *   with W the real queries and the same rows weighted 1 / (row mass − sink mass)
 *   (`weighted`): the mass every key receives, from which the share of any span under
 *   the `all` and `after` query sets follows (causality);
 * - rollout: u_l = (c · mean_h(P · u_{l−1}) + r · u_{l−1}) / (c · mean_h(P · 1) + r),
 *   c = 1 − r, `[batch, 1, T, R]`;
 * - entropy: −Σ_j P ln P, `[batch, heads, T]`, as ln Z − Σ_j p_j z_j;
 * - mean: the head-averaged map `[batch, T, T]` of the layers asked for.
 * Each reduction is inserted right after its layer's Softmax, and the next layer's
 * query·key product gets `+ 0 × (reductions)`, a data dependency that changes no value
 * but makes onnxruntime run the reduction (and free the probabilities) before the next
 * layer, instead of keeping every layer's probabilities alive until the end.
 */
export function reduceAttentionInGraph(modelBytes: Uint8Array, sites: readonly AttentionSite[], plan: ReductionPlan): Uint8Array {
  const model = decodeModel(modelBytes);
  const graph = model.graph as onnx.GraphProto;
  const opset = Number(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 17);
  const constants: onnx.ITensorProto[] = [];
  const constant = (name: string, values: number[], dims: number[], type: 'float' | 'int64'): string => {
    constants.push(type === 'float' ? { name, dims, dataType: 1, floatData: values } : { name, dims, dataType: 7, int64Data: values });
    return name;
  };
  const axisOne = constant('legal_attn.axis_1', [1], [1], 'int64');
  const lastAxis = constant('legal_attn.axis_last', [-1], [1], 'int64');
  const queryAxis = constant('legal_attn.axis_query', [-2], [1], 'int64');
  const [zeroIndex, oneIndex, twoIndex, threeIndex] = [0, 1, 2, 3].map((k) => constant(`legal_attn.index_${k}`, [k], [1], 'int64'));
  const scalarZero = constant('legal_attn.scalar_0', [0], [], 'int64');
  const scalarOne = constant('legal_attn.scalar_1', [1], [], 'int64');
  const lastColumn = constant('legal_attn.index_end', [2 ** 53], [1], 'int64');
  const asQueryColumn = constant('legal_attn.as_query_column', [1, 1, -1, 1], [4], 'int64');
  const tiny = constant('legal_attn.tiny', [1e-30], [], 'float');
  const lowest = constant('legal_attn.lowest', [-3e38], [], 'float');
  const infiniteMasks = hasNegativeInfinity(graph);
  const zero = constant('legal_attn.zero', [0], [], 'float');
  const residual = plan.rolloutResidual ?? 0.5;
  const kept = constant('legal_attn.residual', [residual], [], 'float');
  const mixed = constant('legal_attn.mixed', [1 - residual], [], 'float');

  const prologue: onnx.INodeProto[] = [];
  const node = (list: onnx.INodeProto[], opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): string => {
    list.push({ opType, input, output: [output], attribute, name: `legal_attn/${output}` });
    return output;
  };
  // ReduceSum takes its axes as an input from opset 13 on, ReduceMean and ReduceMax only from 18.
  const reduce = (list: onnx.INodeProto[], op: 'ReduceMean' | 'ReduceMax' | 'ReduceSum', input: string, axis: 1 | -1 | -2, keepdims: 0 | 1, output: string): string =>
    op === 'ReduceSum' || opset >= 18
      ? node(list, op, [input, axis === 1 ? axisOne : axis === -1 ? lastAxis : queryAxis], output, [int('keepdims', keepdims)])
      : node(list, op, [input], output, [ints('axes', [axis]), int('keepdims', keepdims)]);
  const reduceMean = (list: onnx.INodeProto[], input: string, output: string): string => reduce(list, 'ReduceMean', input, 1, 1, output);
  const column = (list: onnx.INodeProto[], input: string, from: string, to: string, output: string): string => node(list, 'Slice', [input, from, to, lastAxis], output);

  const keySets = node(prologue, 'Unsqueeze', [KEY_SETS_INPUT, axisOne], 'legal_attn.key_sets_4d');
  const inputs = [floatInput(KEY_SETS_INPUT, ['batch', 'seq', 'key_sets'])];
  let realQueries = '';
  let laterQueries = '';
  if (plan.columnSums === 'weighted') {
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

  // The key-set count and the padded length, read off the fed key sets at run time.
  const keySetShape = node(prologue, 'Shape', [KEY_SETS_INPUT], 'legal_attn.key_sets_shape');
  const keySetCount = node(prologue, 'Slice', [keySetShape, twoIndex!, threeIndex!], 'legal_attn.key_set_count');
  const rolloutCount = plan.rolloutResidual !== undefined ? node(prologue, 'Slice', [node(prologue, 'Shape', [ROLLOUT_INPUT], 'legal_attn.rollout_shape'), twoIndex!, threeIndex!], 'legal_attn.rollout_count') : '';
  const length = node(prologue, 'Squeeze', [node(prologue, 'Slice', [keySetShape, oneIndex!, twoIndex!], 'legal_attn.length_1d'), zeroIndex!], 'legal_attn.length');
  const positions = node(prologue, 'Range', [scalarZero, length, scalarOne], 'legal_attn.positions');
  const diagonalIndex = node(prologue, 'Reshape', [positions, asQueryColumn], 'legal_attn.diagonal_index');
  const producer = new Map<string, onnx.INodeProto>();
  for (const original of graph.node) for (const output of original.output ?? []) producer.set(output, original);
  const position = new Map(graph.node.map((n, k) => [n, k]));
  const after = new Map<number, onnx.INodeProto[]>();
  const dependencies = new Map<number, string>();
  const outputs: string[] = [];

  sites.forEach((site, l) => {
    const softmax = producer.get(site.output)!;
    const nodes: onnx.INodeProto[] = [];
    const add = (opType: string, input: string[], output: string, attribute: onnx.IAttributeProto[] = []): string => node(nodes, opType, input, output, attribute);
    // Every reduction in float32, whatever the export's precision; half-precision
    // probabilities carry too few digits for ln Z − Σ p·z, so their entropy is −Σ p ln p.
    const halfPrecision = site.type !== 'float32';
    const p = halfPrecision ? add('Cast', [site.output], `legal_attn.probabilities_f32.${l}`, [int('to', FLOAT32)]) : site.output;
    const sum = (input: string): string => add('ReduceSum', [input], `${input}.sum`, [int('keepdims', 0)]);
    const sums: string[] = [];
    // One pass over P for the key-set masses, the rollout step and, when the scores are
    // affine in the query·key product, P·K for the entropy: P · [key sets | u_{l−1} | K].
    const rolloutStep = plan.rolloutResidual !== undefined;
    const scores = plan.entropy && !plan.readScores && !halfPrecision ? affineScores(graph, producer, softmax) : undefined;
    const headsShape = scores
      ? add('Concat', [oneIndex!, add('Slice', [add('Shape', [scores.keys], `legal_attn.keys_shape.${l}`), oneIndex!, twoIndex!], `legal_attn.heads.${l}`), oneIndex!, oneIndex!], `legal_attn.heads_shape.${l}`, [int('axis', 0)])
      : '';
    const perHead = (input: string, what: string): string => (scores ? add('Expand', [input, headsShape], `legal_attn.${what}_per_head.${l}`) : input);
    const multiplied = [perHead(keySets, 'key_sets'), ...(rolloutStep ? [perHead(rollout, 'rollout')] : []), ...(scores ? [scores.keys] : [])];
    const product = multiplied.length > 1 ? add('MatMul', [p, add('Concat', multiplied, `legal_attn.columns.${l}`, [int('axis', -1)])], `legal_attn.product.${l}`) : '';
    const mass = product ? node(nodes, 'Slice', [product, zeroIndex!, keySetCount, lastAxis], massOutput(l)) : add('MatMul', [p, keySets], massOutput(l));
    const afterRollout = rolloutStep ? add('Add', [keySetCount, rolloutCount], `legal_attn.columns_before_keys.${l}`) : keySetCount;
    outputs.push(mass);
    sums.push(sum(mass));
    const rowMass = column(nodes, mass, zeroIndex!, oneIndex!, `legal_attn.row_mass.${l}`);
    if (plan.columnSums === 'plain') {
      const columnSums = reduce(nodes, 'ReduceSum', p, -2, 1, columnSumsOutput(l));
      outputs.push(columnSums);
      sums.push(sum(columnSums));
    }
    if (plan.columnSums === 'weighted') {
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
      const spread = reduceMean(nodes, node(nodes, 'Slice', [product, keySetCount, afterRollout, lastAxis], `legal_attn.rollout_spread.${l}`), `legal_attn.rollout_mean.${l}`);
      const numerator = add('Add', [add('Mul', [spread, mixed], `legal_attn.rollout_mixed.${l}`), add('Mul', [rollout, kept], `legal_attn.rollout_kept.${l}`)], `legal_attn.rollout_numerator.${l}`);
      const rowMean = reduceMean(nodes, rowMass, `legal_attn.row_mass_mean.${l}`);
      const denominator = add('Add', [add('Mul', [rowMean, mixed], `legal_attn.row_mixed.${l}`), kept], `legal_attn.rollout_denominator.${l}`);
      rollout = add('Div', [numerator, denominator], rolloutOutput(l));
      outputs.push(rollout);
      sums.push(sum(rollout));
    }
    if (plan.entropy && halfPrecision) {
      const logP = add('Log', [add('Max', [p, tiny], `legal_attn.p_clipped.${l}`)], `legal_attn.log_p.${l}`);
      const entropy = add('Neg', [reduce(nodes, 'ReduceSum', add('Mul', [p, logP], `legal_attn.p_log_p.${l}`), -1, 0, `legal_attn.sum_p_log_p.${l}`)], entropyOutput(l));
      outputs.push(entropy);
      sums.push(sum(entropy));
    }
    if (plan.entropy && !halfPrecision) {
      // −Σ_j p ln p without a logarithm over the T×T map: with p = exp(z) / Z, ln p_j = z_j − ln Z
      // for any key j the query sees, so H = ln Z − Σ_j p_j z_j.
      // Scores read back only when they are not affine in q·k; clipped from −∞ so that 0 × z stays 0.
      const z = scores ? '' : infiniteMasks ? add('Max', [softmax.input![0]!, lowest], `legal_attn.finite_scores.${l}`) : softmax.input![0]!;
      // ln Z from one key every query sees, its own token or the sink, whichever it attends to more.
      const diagonal = add('Expand', [diagonalIndex, add('Shape', [rowMass], `legal_attn.row_shape.${l}`)], `legal_attn.diagonal.${l}`);
      const ownProbability = add('GatherElements', [p, diagonal], `legal_attn.own_probability.${l}`, [int('axis', -1)]);
      const sinkProbability = column(nodes, mass, oneIndex!, twoIndex!, `legal_attn.sink_probability.${l}`);
      // Affine scores are recomputed from q and k at the two keys, without touching the T×T scores.
      const scale = (input: string, name: string): string => (scores ? add(scores.scale.op, [input, scores.scale.value], name) : input);
      const ownScore = scores
        ? scale(reduce(nodes, 'ReduceSum', add('Mul', [scores.query, scores.keys], `legal_attn.query_own_key.${l}`), -1, 1, `legal_attn.own_product.${l}`), `legal_attn.own_score.${l}`)
        : add('GatherElements', [z, diagonal], `legal_attn.own_score.${l}`, [int('axis', -1)]);
      const sinkScore = scores
        ? scale(
            reduce(nodes, 'ReduceSum', add('Mul', [scores.query, add('Slice', [scores.keys, zeroIndex!, oneIndex!, twoIndex!], `legal_attn.sink_key.${l}`)], `legal_attn.query_sink_key.${l}`), -1, 1, `legal_attn.sink_product.${l}`),
            `legal_attn.sink_score.${l}`,
          )
        : column(nodes, z, zeroIndex!, oneIndex!, `legal_attn.sink_score.${l}`);
      const logPartition4d = add(
        'Where',
        [
          add('Greater', [ownProbability, sinkProbability], `legal_attn.own_is_larger.${l}`),
          add('Sub', [ownScore, add('Log', [ownProbability], `legal_attn.log_own.${l}`)], `legal_attn.partition_by_own.${l}`),
          add('Sub', [sinkScore, add('Log', [sinkProbability], `legal_attn.log_sink.${l}`)], `legal_attn.partition_by_sink.${l}`),
        ],
        `legal_attn.log_partition_4d.${l}`,
      );
      const logPartition = add('Squeeze', [logPartition4d, lastAxis], `legal_attn.log_partition.${l}`);
      // Σ_j p_j z_j: with z = c · (q · k_j) + mask (mask 0 where p > 0), it is c · q · (P·K)_i,
      // read off the product above; else an elementwise pass over the map.
      const expected = scores
        ? add(
            scores.scale.op,
            [reduce(nodes, 'ReduceSum', add('Mul', [scores.query, add('Slice', [product, afterRollout, lastColumn, lastAxis], `legal_attn.attended_keys.${l}`)], `legal_attn.query_attended_keys.${l}`), -1, 0, `legal_attn.expected_product.${l}`), scores.scale.value],
            `legal_attn.expected_score.${l}`,
          )
        : reduce(nodes, 'ReduceSum', add('Mul', [p, z], `legal_attn.weighted_scores.${l}`), -1, 0, `legal_attn.expected_score.${l}`);
      const entropy = add('Sub', [logPartition, expected], entropyOutput(l));
      outputs.push(entropy);
      sums.push(sum(entropy));
    }
    if (plan.meanLayers.includes(l)) {
      const mean = reduce(nodes, 'ReduceMean', p, 1, 0, meanOutput(l));
      outputs.push(mean);
      sums.push(sum(mean));
    }
    const total = sums.slice(1).reduce((acc, s, k) => add('Add', [acc, s], `legal_attn.sum.${l}.${k}`), sums[0]!);
    // 0 whatever the sum holds (padded rows may give ±∞), so the dependency never changes a value.
    const flag = add('Cast', [add('IsNaN', [total], `legal_attn.sum_is_nan.${l}`)], `legal_attn.sum_flag.${l}`, [int('to', INT64)]);
    dependencies.set(l + 1, add('Mul', [flag, scalarZero], `legal_attn.dependency.${l}`));
    after.set(position.get(softmax)!, nodes);
  });

  // Each layer's query·key product is fed through the previous layer's dependency (on
  // the small query tensor, not the T×T scores; on the Softmax input where the product
  // is unknown), as a Reshape to its own shape + 0: no copy, and the same for any
  // element type (half precision, quantized).
  const before = new Map<number, onnx.INodeProto[]>();
  const renamedInputs = new Map<number, Map<number, string>>();
  sites.forEach((site, l) => {
    const dependency = dependencies.get(l);
    const fed = (site.product ? producer.get(site.product) : undefined) ?? producer.get(site.output)!;
    const input = fed.input?.[0];
    if (!dependency || !input) return;
    const nodes: onnx.INodeProto[] = [];
    const shape = node(nodes, 'Add', [node(nodes, 'Shape', [input], `legal_attn.fed_shape.${l}`), dependency], `legal_attn.fed_shape_dependent.${l}`);
    const name = node(nodes, 'Reshape', [input, shape], `legal_attn.fed.${l}`);
    before.set(position.get(fed)!, nodes);
    renamedInputs.set(position.get(fed)!, new Map([[0, name]]));
  });
  // Only the constants this plan uses, so that onnxruntime has none to prune.
  const used = new Set([...prologue, ...after.values(), ...before.values()].flat().flatMap((n) => n.input ?? []));
  return editGraph(modelBytes, {
    prologue,
    before,
    after,
    renamedInputs,
    initializers: constants.filter((c) => used.has(c.name ?? '')),
    inputs,
    outputs: outputs.map((name) => ({ name })),
  });
}

/** Scores z = c · (q · kᵀ) + mask with a constant scale and a 0 / −large mask: what lets Σ p z be read off P·K. */
interface AffineScores {
  query: string;
  /** `[batch, heads, T, head size]`. */
  keys: string;
  scale: { op: 'Mul' | 'Div'; value: string };
}

function affineScores(graph: onnx.GraphProto, producer: ReadonlyMap<string, onnx.INodeProto>, softmax: onnx.INodeProto): AffineScores | undefined {
  const scalar = (name: string): number | undefined => {
    const tensor = graph.initializer.find((t) => t.name === name) ?? producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t ?? undefined;
    if (!tensor || tensor.dataType !== 1 || (tensor.dims ?? []).some((d) => Number(d) !== 1)) return undefined;
    if (tensor.floatData && tensor.floatData.length === 1) return tensor.floatData[0];
    const raw = tensor.rawData ? new Uint8Array(tensor.rawData) : undefined;
    return raw && raw.length === 4 ? new Float32Array(raw.buffer, raw.byteOffset, 1)[0] : undefined;
  };
  const isConstant = (name: string): boolean => scalar(name) !== undefined;
  const masked = producer.get(softmax.input?.[0] ?? '');
  if (masked?.opType !== 'Add') return undefined;
  for (const [scaledName, maskName] of [[masked.input?.[0], masked.input?.[1]], [masked.input?.[1], masked.input?.[0]]]) {
    const scaled = producer.get(scaledName ?? '');
    const mask = producer.get(maskName ?? '');
    if (!scaled || !mask || (scaled.opType !== 'Mul' && scaled.opType !== 'Div') || mask.opType !== 'Where') continue;
    const [a = '', b = ''] = scaled.input ?? [];
    const [scoreName, scaleName] = isConstant(b) ? [a, b] : scaled.opType === 'Mul' && isConstant(a) ? [b, a] : ['', ''];
    const product = producer.get(scoreName);
    if (!product || product.opType !== 'MatMul') continue;
    const fill = (mask.input ?? []).slice(1).map(scalar);
    if (!(fill.includes(0) && fill.some((v) => v !== undefined && v <= -1e30))) continue;
    const [query = '', keysTransposed = ''] = product.input ?? [];
    const transpose = producer.get(keysTransposed);
    const perm = transpose?.attribute?.find((x) => x.name === 'perm')?.ints?.map(Number);
    if (transpose?.opType !== 'Transpose' || JSON.stringify(perm) !== '[0,1,3,2]') continue;
    return { query, keys: transpose.input?.[0] ?? '', scale: { op: scaled.opType, value: scaleName } };
  }
  return undefined;
}

/** Whether a constant of the graph holds −∞ (a mask that makes 0 × score undefined). */
function hasNegativeInfinity(graph: onnx.GraphProto): boolean {
  const tensors: onnx.ITensorProto[] = [...graph.initializer];
  for (const node of graph.node) for (const attribute of node.attribute ?? []) if (attribute.t) tensors.push(attribute.t);
  return tensors.some((t) => {
    if (t.dataType === 1) {
      if ((t.floatData ?? []).some((v) => v === -Infinity)) return true;
      const raw = t.rawData;
      if (!raw || raw.length > 1 << 16) return false; // weights are large; masks and fill values are small
      const copy = new Uint8Array(raw);
      return new Float32Array(copy.buffer, 0, copy.length >> 2).includes(-Infinity);
    }
    if (t.dataType === 10) {
      const raw = t.rawData ? new Uint8Array(t.rawData) : new Uint8Array(0);
      if (raw.length > 1 << 16) return false;
      for (let k = 0; k + 1 < raw.length; k += 2) if (raw[k] === 0x00 && raw[k + 1] === 0xfc) return true;
      return (t.int32Data ?? []).includes(0xfc00);
    }
    return false;
  });
}
