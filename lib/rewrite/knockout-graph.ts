import { constantTensor, intAttribute, intsAttribute, NodeList } from '../onnx/build.js';
import { elementTypes } from '../onnx/element-types.js';
import { decodeModel } from '../onnx/model.js';
import { editGraph, onnxOpset } from '../onnx/wire.js';
import { BFLOAT16, FLOAT, FLOAT16, INT64, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/proto.js';
import { badInput } from '../errors.js';
import { findLogits } from '../checkpoint/logits.js';
import type { AttentionSite } from '../checkpoint/graph-analysis.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import { stateTensorNodes } from './reductions/pooled-states.js';
import { fusedKnockoutRefusal, knockedOutKernel, type KernelFacts } from './knockout-fused.js';
import { attentionStretch } from './blocked-attention.js';
import { blockedKnockout } from './knockout-blocked.js';
import { inputsAtAnyDepth, unreadNodes } from './unread-nodes.js';
import { staticRank } from '../onnx/static-rank.js';

/** `[rows, T]` 0/1: the keys each row knocks out. */
export const KNOCKOUT_KEYS_INPUT = 'legal_attn_knockout_keys';
/** `[rows, T]` 0/1: the queries that may not read those keys. */
export const KNOCKOUT_QUERIES_INPUT = 'legal_attn_knockout_queries';
/** `[rows, L]` 0/1: the layers the row's knockout applies in. */
export const KNOCKOUT_LAYERS_INPUT = 'legal_attn_knockout_layers';
/** `[rows, T, 1]` int64: the token each position predicts (any valid id at the last). */
export const NEXT_IDS_INPUT = 'legal_attn_next_ids';
/** `[rows, T, 1]`: log p(next token) at each position, float32. */
export const LOGPROB_OUTPUT = 'legal_attn.knockout.logprob';
/** `[rows, T]`: cosine of each token's last residual state with row 0's. */
export const COSINE_OUTPUT = 'legal_attn.knockout.cos';

const BOOL = 9;

// The lowest finite value of each score type: a blocked score that is finite cannot make −∞ + −∞ or 0·∞, and exp of it underflows to exactly 0.
const LOWEST: Readonly<Record<number, number>> = { [FLOAT]: -3.4028234663852886e38, [FLOAT16]: -65504, [BFLOAT16]: -3.3895313892515355e38 };

const input = (name: string, elemType: number, dims: string[]): ValueInfoProto => ({ name, type: { tensorType: { elemType, shape: { dim: dims.map((dimParam) => ({ dimParam })) } } } });

export interface KnockoutGraphOptions {
  /** Rows of the embedding matrix: how the logits are told from other outputs. */
  embeddingRows?: number | undefined;
  /** Queries per block: each decomposed layer's attention runs as a loop over blocks of them (`blocked-attention.ts`). */
  blockRows?: number | undefined;
}

/**
 * The graph with attention knockout: before each layer's Softmax, the scores of the
 * blocked (query, key) pairs become the score type's lowest value, blocked meaning
 * query i marked in the row's queries, key j in its keys, and layer l in its layers.
 * The mask stays an outer product of `[rows, T]` vectors, built inside each layer, so
 * no `[rows, T, T]` tensor is fed. The outputs are the per-token log-probability of
 * the next token and the cosine of the last residual state with row 0's (the baseline).
 * A fused kernel takes the mask through its own mask or bias input instead, in a copy
 * that replaces it (`knockout-fused.ts`). With `blockRows`, a decomposed layer whose
 * stretch can be blocked runs as a loop over blocks of queries, the Where inside it
 * (`blockedKnockout`), so that a row holds `[heads, B, T]` scores, not `[heads, T, T]`.
 * `graphFile` names the graph in the refusals
 * of one without logits and of a kernel that cannot take the mask.
 */
export function knockoutGraph(modelBytes: Uint8Array, sites: readonly AttentionSite[], stream: ResidualStream, graphFile: string, options: KnockoutGraphOptions = {}): Uint8Array {
  const graph = decodeModel(modelBytes).graph ?? {};
  const logits = findLogits(graph, options.embeddingRows);
  if (typeof logits === 'string') throw badInput(`${graphFile}: ${logits}, and attention knockout scores the next token from them; export the model with its language-model head (task text-generation).`);
  const types = elementTypes(graph);
  const opset = onnxOpset(modelBytes);
  const initializers: TensorProto[] = [];
  const constant = (name: string, values: number[], dims: number[], type: 'float' | 'int64'): string => {
    if (!initializers.some((t) => t.name === name)) initializers.push(constantTensor(name, values, dims, type));
    return name;
  };
  const axes = (values: number[]): string => constant(`legal_attn.knockout_axes_${values.join('_').replace(/-/g, 'm')}`, values, [values.length], 'int64');
  const prologue = new NodeList('legal_attn/knockout/');
  const keys = prologue.add('Unsqueeze', [prologue.add('Cast', [KNOCKOUT_KEYS_INPUT], 'legal_attn.knockout_keys_bool', [intAttribute('to', BOOL)]), axes([1, 2])], 'legal_attn.knockout_key_row');
  const queries = prologue.add('Unsqueeze', [prologue.add('Cast', [KNOCKOUT_QUERIES_INPUT], 'legal_attn.knockout_queries_bool', [intAttribute('to', BOOL)]), axes([1, 3])], 'legal_attn.knockout_query_column');
  const layers = prologue.add('Cast', [KNOCKOUT_LAYERS_INPUT], 'legal_attn.knockout_layers_bool', [intAttribute('to', BOOL)]);
  // scalar constants of a score type, cast once from float32
  const typedOf = new Map<string, string>();
  const typed = (what: 'lowest' | 'zero', value: number, type: number): string => {
    const key = `${what}_${type}`;
    const known = typedOf.get(key);
    if (known) return known;
    const name = constant(`legal_attn.knockout_${what}_f32`, [value], [], 'float');
    const cast = type === FLOAT ? name : prologue.add('Cast', [name], `legal_attn.knockout_${what}_as_${type}`, [intAttribute('to', type)]);
    typedOf.set(key, cast);
    return cast;
  };
  const lowest = (type: number): string => typed('lowest', LOWEST[type] ?? LOWEST[FLOAT]!, type);
  const facts: KernelFacts = { typeOf: (t) => types.get(t), lowest, zero: (type) => typed('zero', 0, type), axes, int64: (name, values, dims) => constant(name, values, dims, 'int64') };

  const before = new Map<number, NodeProto[]>();
  const after = new Map<number, NodeProto[]>();
  const place = (position: number, nodes: readonly NodeProto[]): void => void after.set(position, [...(after.get(position) ?? []), ...nodes]);
  const renamedInputs = new Map<number, Map<number, string>>();
  const removed = new Set<number>();
  const rankOf = staticRank(graph);
  let blockedLayers = 0;
  // T, for the loops over blocks: the width of the fed knockout keys
  const length = options.blockRows ? prologue.add('Gather', [prologue.add('Shape', [KNOCKOUT_KEYS_INPUT], 'legal_attn.knockout_keys_dims'), constant('legal_attn.knockout_seq_axis', [1], [], 'int64')], 'legal_attn.knockout_length', [intAttribute('axis', 0)]) : '';
  for (const site of sites) {
    if (site.node === '' && !site.fused) throw new Error(`knockoutGraph: layer ${site.layer} has no Softmax node of the graph`);
    const node = graph.node![site.position]!;
    const l = site.layer;
    const layer = new NodeList(`legal_attn/knockout_${l}/`);
    // the row's layer flag as [rows, 1, 1, 1], then the blocked pairs [rows, 1, T, T] of this layer only (in blocks: a block's rows of them)
    const flag = layer.add('Slice', [layers, constant(`legal_attn.knockout_layer_${l}`, [l], [1], 'int64'), constant(`legal_attn.knockout_layer_end_${l}`, [l + 1], [1], 'int64'), axes([1])], `legal_attn.knockout_flag.${l}`);
    const selected = layer.add('And', [keys, layer.add('Unsqueeze', [flag, axes([2, 3])], `legal_attn.knockout_flag_4d.${l}`)], `legal_attn.knockout_selected_keys.${l}`);
    const stretch = options.blockRows && !site.fused ? attentionStretch(graph, node, site.product) : undefined;
    if (stretch) {
      const loop = blockedKnockout(stretch, { graph, rankOf, typeOf: (t) => types.get(t), lowest }, { layer: l, length, blockRows: options.blockRows!, selected, queries });
      place(stretch.positions[stretch.positions.length - 1]!, [...layer.nodes, ...loop]);
      stretch.positions.forEach((k) => removed.add(k));
      blockedLayers++;
      continue;
    }
    const blocked = layer.add('And', [selected, queries], `legal_attn.knockout_blocked.${l}`);
    if (site.fused) {
      // the kernel, fed the mask through its own mask or bias input, takes the original's place
      const why = fusedKnockoutRefusal(node);
      if (why) throw badInput(`${graphFile}: node ${node.name || node.output?.[0]} (layer ${l}): ${why}, so attention knockout cannot reach its scores; export the model with explicit attention (a Softmax per layer).`);
      const kernel = knockedOutKernel(node, site.fused, blocked, layer, l, facts);
      before.set(site.position, [...layer.nodes, kernel]);
      removed.add(site.position);
      continue;
    }
    const scores = node.input![0]!;
    const knocked = layer.add('Where', [blocked, lowest(types.get(scores) ?? FLOAT), scores], `legal_attn.knockout_scores.${l}`);
    before.set(site.position, layer.nodes);
    renamedInputs.set(site.position, new Map([[0, knocked]]));
  }

  const reduce = (list: NodeList, op: 'ReduceSum' | 'ReduceLogSumExp', x: string, keepdims: 0 | 1, output: string): string =>
    op === 'ReduceSum' || opset >= 18 ? list.add(op, [x, axes([-1])], output, [intAttribute('keepdims', keepdims)]) : list.add(op, [x], output, [intsAttribute('axes', [-1]), intAttribute('keepdims', keepdims)]);

  // log p(x_{i+1}) = logit of the next token − logsumexp of the row, read without a second [rows, T, V] copy
  const scoring = new NodeList('legal_attn/knockout/');
  const logitsType = types.get(logits.output) ?? FLOAT;
  const wide = logitsType === FLOAT ? logits.output : scoring.add('Cast', [logits.output], 'legal_attn.knockout_logits_f32', [intAttribute('to', FLOAT)]);
  const picked = scoring.add('GatherElements', [wide, NEXT_IDS_INPUT], 'legal_attn.knockout_next_logit', [intAttribute('axis', -1)]);
  scoring.add('Sub', [picked, reduce(scoring, 'ReduceLogSumExp', wide, 1, 'legal_attn.knockout_log_normaliser')], LOGPROB_OUTPUT);
  place(logits.position, scoring.nodes);

  // cos(x_L, baseline x_L) per token, from unit vectors (norms floored so a zero state gives 0, not NaN)
  const last = stream.states.length - 1;
  const state = stateTensorNodes(stream, last, (t) => types.get(t));
  const unit = new NodeList('legal_attn/knockout/');
  const squares = reduce(unit, 'ReduceSum', unit.add('Mul', [state.tensor, state.tensor], 'legal_attn.knockout_state_squares'), 1, 'legal_attn.knockout_state_norm2');
  const norm = unit.add('Sqrt', [unit.add('Max', [squares, constant('legal_attn.knockout_tiny', [1e-30], [], 'float')], 'legal_attn.knockout_state_norm2_floored')], 'legal_attn.knockout_state_norm');
  const u = unit.add('Div', [state.tensor, norm], 'legal_attn.knockout_state_unit');
  const baseline = unit.add('Slice', [u, constant('legal_attn.knockout_row_0', [0], [1], 'int64'), constant('legal_attn.knockout_row_1', [1], [1], 'int64'), axes([0])], 'legal_attn.knockout_baseline_unit');
  reduce(unit, 'ReduceSum', unit.add('Mul', [u, baseline], 'legal_attn.knockout_state_products'), 0, COSINE_OUTPUT);
  place(stream.positions[last]!, [...state.nodes, ...unit.nodes]);

  // what the blocks leave unread (the export's whole [T, T] mask) leaves the graph with them
  if (blockedLayers > 0) {
    const read = new Set([...prologue.nodes, ...before.values(), ...after.values()].flat().flatMap(inputsAtAnyDepth));
    for (const k of unreadNodes(graph, removed, read, [LOGPROB_OUTPUT, COSINE_OUTPUT])) removed.add(k);
  }
  return editGraph(modelBytes, {
    prologue: prologue.nodes,
    before,
    after,
    removed,
    renamedInputs,
    initializers,
    inputs: [input(KNOCKOUT_KEYS_INPUT, FLOAT, ['rows', 'seq']), input(KNOCKOUT_QUERIES_INPUT, FLOAT, ['rows', 'seq']), input(KNOCKOUT_LAYERS_INPUT, FLOAT, ['rows', 'layers']), input(NEXT_IDS_INPUT, INT64, ['rows', 'seq', 'one'])],
    outputs: [{ name: LOGPROB_OUTPUT }, { name: COSINE_OUTPUT }],
  });
}
