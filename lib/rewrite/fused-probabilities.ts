import { intAttribute, intsAttribute, NodeList } from '../onnx/build.js';
import type { FusedAttention } from '../checkpoint/fused-attention.js';
import { type NodeProto, FLOAT } from '../onnx/proto.js';

type Constant = (what: string, values: number[], dims: number[], type: 'float' | 'int64') => string;
type AsFloat = (tensor: string, what: string) => string;
const BOOL = 9;
const LOWEST = -3.4028234663852886e38;

/** A fused layer's queries and keys in float32, and what turns their product into scores. */
export interface FusedScores {
  /** `[batch, kv, group, T, d]`: the query heads grouped under their key head. */
  grouped: string;
  /** `[batch, kv, 1, d, T]`. */
  keys: string;
  scale: string;
  /** The soft-cap constant, '' for none. */
  softcap: string;
  /** float32, added to the scaled scores, broadcast to `[batch, heads, T, T]`. */
  bias?: string;
  /** Boolean, broadcast to `[batch, heads, T, T]`: the keys each query sees. */
  allowed?: string;
}

/**
 * The nodes that compute layer `layer`'s P into `output` from a fused node's queries
 * and keys, with its rotary, scale, soft-cap and mask rule (causal, window, padding,
 * additive or boolean masks). Grouped heads are kept apart as `[batch, kv, group, T, d]`
 * so that no key is repeated; head counts come from the tensors where the layout carries them.
 */
export function probabilityNodes(fused: FusedAttention, layer: number, output: string): NodeProto[] {
  const { nodes, scores } = fusedScores(fused, layer);
  probabilitiesFrom(nodes, scores, scores.grouped, (tensor) => tensor, layer, output);
  return nodes.nodes;
}

/** The float32 queries and keys of a fused layer, with its scale, soft-cap, bias and mask rule: everything of P but the query·key product. */
export function fusedScores(fused: FusedAttention, layer: number): { nodes: NodeList; scores: FusedScores } {
  const nodes = new NodeList(`legal_attn/fused.${layer}/`);
  const name = (what: string): string => `legal_attn.fused.${what}.${layer}`;
  const constant: Constant = (what, values, dims, type) => nodes.constant(name(`c_${what}`), values, dims, type);
  const asFloat: AsFloat = (tensor, what) => (fused.type === 'float32' ? tensor : nodes.add('Cast', [tensor], name(what), [intAttribute('to', FLOAT)]));
  const axis = (k: number, what: string): string => constant(what, [k], [1], 'int64');
  const dims = (tensor: string, from: number, to: number, what: string): string => nodes.add('Slice', [nodes.add('Shape', [tensor], name(`${what}_shape`)), axis(from, `${what}_from`), axis(to, `${what}_to`)], name(what));

  // q `[batch, T, heads, d]` and k `[batch, T, kv, d]`
  let { q, k } = queriesAndKeys(nodes, fused, name, constant, asFloat);
  const length = nodes.add('Gather', [nodes.add('Shape', [q], name('length_dims')), constant('one', [1], [], 'int64')], name('length'), [intAttribute('axis', 0)]);
  const positions = nodes.add('Range', [constant('zero', [0], [], 'int64'), length, constant('step', [1], [], 'int64')], name('positions'));
  if (fused.rotary) {
    q = rotate(nodes, fused.rotary, q, positions, name, constant, 'q', asFloat);
    k = rotate(nodes, fused.rotary, k, positions, name, constant, 'k', asFloat);
  }
  // each group of query heads against its one key head
  const byHeadQ = nodes.add('Transpose', [q], name('q_bntd'), [intsAttribute('perm', [0, 2, 1, 3])]);
  const groupShape = nodes.add('Concat', [dims(byHeadQ, 0, 1, 'batch'), dims(k, 2, 3, 'kv'), constant('rest', [-1], [1], 'int64'), dims(byHeadQ, 2, 4, 'td')], name('group_shape'), [intAttribute('axis', 0)]);
  const grouped = nodes.add('Reshape', [byHeadQ, groupShape], name('q_grouped'));
  const keys = nodes.add('Unsqueeze', [nodes.add('Transpose', [k], name('k_bkdt'), [intsAttribute('perm', [0, 2, 3, 1])]), axis(2, 'group_axis')], name('k_bk1dt'));
  const d = nodes.add('Cast', [nodes.add('Gather', [nodes.add('Shape', [q], name('q_dims')), constant('last', [3], [], 'int64')], name('head_size'), [intAttribute('axis', 0)])], name('head_size_f32'), [intAttribute('to', FLOAT)]);
  const scale = fused.scale > 0 ? constant('scale', [fused.scale], [], 'float') : nodes.add('Reciprocal', [nodes.add('Sqrt', [d], name('sqrt_d'))], name('scale'));
  const allowed = allowedKeys(nodes, fused, positions, name, constant, axis);
  const scores: FusedScores = { grouped, keys, scale, softcap: fused.softcap > 0 ? constant('softcap', [fused.softcap], [], 'float') : '' };
  if (fused.bias) scores.bias = asFloat(fused.bias, 'bias_f32');
  if (allowed) scores.allowed = allowed;
  return { nodes, scores };
}

/**
 * P `[batch, heads, rows, T]` into `output` from the grouped queries of some rows (all
 * of them, or a block's); `rowsOf` gives those rows of the bias and the mask rule.
 * Returns the scores the Softmax takes.
 */
export function probabilitiesFrom(nodes: NodeList, parts: FusedScores, grouped: string, rowsOf: (tensor: string, what: string) => string, layer: number, output: string): string {
  const name = (what: string): string => `legal_attn.fused.${what}.${layer}`;
  const dims = (tensor: string, from: number, to: number, what: string): string =>
    nodes.add('Slice', [nodes.add('Shape', [tensor], name(`${what}_shape`)), nodes.constant(name(`c_${what}_from`), [from], [1], 'int64'), nodes.constant(name(`c_${what}_to`), [to], [1], 'int64')], name(what));
  const product = nodes.add('MatMul', [grouped, parts.keys], name('qk'));
  // `[batch, heads, rows, T]`, as P is read
  const squareShape = nodes.add('Concat', [dims(grouped, 0, 1, 'batch_again'), nodes.constant(name('c_heads'), [-1], [1], 'int64'), dims(grouped, 3, 4, 'query_length'), dims(parts.keys, 4, 5, 'key_length')], name('square_shape'), [intAttribute('axis', 0)]);
  let scores = nodes.add('Mul', [nodes.add('Reshape', [product, squareShape], name('qk_by_head')), parts.scale], name('scaled'));
  if (parts.bias) scores = nodes.add('Add', [scores, rowsOf(parts.bias, 'bias')], name('biased'));
  if (parts.softcap) scores = nodes.add('Mul', [nodes.add('Tanh', [nodes.add('Div', [scores, parts.softcap], name('capped_in'))], name('capped_tanh')), parts.softcap], name('capped'));
  const masked = parts.allowed ? nodes.add('Where', [rowsOf(parts.allowed, 'allowed'), scores, nodes.constant(name('c_lowest'), [LOWEST], [], 'float')], name('masked')) : scores;
  nodes.add('Softmax', [masked], output, [intAttribute('axis', -1)]);
  return masked;
}

/** q `[batch, T, heads, d]` and k `[batch, T, kv, d]` in float32, from whichever layout or packing the node takes. */
function queriesAndKeys(nodes: NodeList, fused: FusedAttention, name: (what: string) => string, constant: Constant, asFloat: AsFloat): { q: string; k: string } {
  const { heads, kvHeads } = fused;
  const axis = (k: number, what: string): string => constant(what, [k], [1], 'int64');
  const slice = (all: string, from: number, to: number, along: number, what: string): string => nodes.add('Slice', [all, axis(from, `${what}_from`), axis(to, `${what}_to`), axis(along, `${what}_axis`)], name(what));
  if (fused.projection) {
    const part = projected(nodes, fused, fused.projection, name, constant, asFloat);
    return { q: part('q'), k: part('k') };
  }
  if (fused.key === '' && fused.op === 'MultiHeadAttention') {
    // `[batch, T, heads, 3, d]`
    const all = asFloat(fused.query, 'qkv_f32');
    const part = (k: number, what: string): string => nodes.add('Squeeze', [slice(all, k, k + 1, 3, `${what}_packed`), axis(3, `${what}_squeeze_axis`)], name(what));
    return { q: part(0, 'q'), k: part(1, 'k') };
  }
  if (fused.key === '') {
    const all = nodes.add('Reshape', [asFloat(fused.query, 'qkv_f32'), constant('packed_shape', [0, 0, heads + 2 * kvHeads, -1], [4], 'int64')], name('qkv'));
    return { q: slice(all, 0, heads, 2, 'q'), k: slice(all, heads, heads + kvHeads, 2, 'k') };
  }
  const bySequence = (tensor: string, layout: FusedAttention['queryLayout'], n: number, what: string): string =>
    layout === 'heads'
      ? nodes.add('Transpose', [asFloat(tensor, `${what}_f32`)], name(what), [intsAttribute('perm', [0, 2, 1, 3])])
      : nodes.add('Reshape', [asFloat(tensor, `${what}_f32`), constant(`${what}_shape`, [0, 0, n, -1], [4], 'int64')], name(what));
  return { q: bySequence(fused.query, fused.queryLayout, heads, 'q'), k: bySequence(fused.key, fused.keyLayout, kvHeads, 'k') };
}

/** q and k as com.microsoft Attention projects them inside the kernel: input · weights + bias, each its part of the columns. */
function projected(nodes: NodeList, fused: FusedAttention, projection: NonNullable<FusedAttention['projection']>, name: (what: string) => string, constant: Constant, asFloat: AsFloat): (which: 'q' | 'k' | 'v') => string {
  const weights = asFloat(projection.weights, 'weights_f32');
  const bias = asFloat(projection.bias, 'projection_bias_f32');
  // the parts' widths: from qkv_hidden_sizes, or a third of the weights' columns each
  const width = projection.sizes ? constant('q_width', [projection.sizes[0]], [1], 'int64') : nodes.add('Div', [nodes.add('Slice', [nodes.add('Shape', [weights], name('weights_dims')), constant('one_from', [1], [1], 'int64'), constant('two_to', [2], [1], 'int64')], name('columns')), constant('three', [3], [1], 'int64')], name('q_width'));
  const input = asFloat(fused.query, 'input_f32');
  const part = (from: string, to: string, what: string): string => {
    const columns = nodes.add('Slice', [weights, from, to, constant(`${what}_columns_axis`, [1], [1], 'int64')], name(`${what}_weights`));
    const offsets = nodes.add('Slice', [bias, from, to, constant(`${what}_bias_axis`, [0], [1], 'int64')], name(`${what}_bias`));
    const flat = nodes.add('Add', [nodes.add('MatMul', [input, columns], name(`${what}_product`)), offsets], name(`${what}_projected`));
    return nodes.add('Reshape', [flat, constant(`${what}_shape`, [0, 0, fused.heads, -1], [4], 'int64')], name(what));
  };
  const kTo = (): string => nodes.add('Mul', [width, constant('two', [2], [1], 'int64')], name('k_to'));
  // each part made only where asked for: the values' columns (the rest) only by the value lens
  return (which) =>
    which === 'q'
      ? part(constant('q_from', [0], [1], 'int64'), width, 'q')
      : which === 'k'
        ? part(width, kTo(), 'k')
        : part(projection.sizes ? constant('v_from', [projection.sizes[0] + projection.sizes[1]], [1], 'int64') : kTo(), constant('v_to', [2 ** 53], [1], 'int64'), 'v');
}

/** The boolean rule of which keys each query sees, broadcast to `[batch, heads, T, T]`; undefined when every key is seen. */
function allowedKeys(nodes: NodeList, fused: FusedAttention, positions: string, name: (what: string) => string, constant: Constant, axis: (k: number, what: string) => string): string | undefined {
  const rows = nodes.add('Unsqueeze', [positions, axis(1, 'row_axis')], name('rows'));
  const cols = nodes.add('Unsqueeze', [positions, axis(0, 'col_axis')], name('cols'));
  const rules: string[] = [];
  if (fused.causal) rules.push(nodes.add('LessOrEqual', [cols, rows], name('causal')));
  if (fused.window > 0) rules.push(nodes.add('Greater', [cols, nodes.add('Sub', [rows, constant('window', [fused.window], [], 'int64')], name('reach'))], name('in_window')));
  if (fused.realKeys) {
    const bound = nodes.add('Reshape', [nodes.add('Cast', [fused.realKeys.tensor], name('real_i64'), [intAttribute('to', 7)]), constant('real_shape', [-1, 1, 1, 1], [4], 'int64')], name('real_bound'));
    rules.push(nodes.add(fused.realKeys.as === 'last' ? 'LessOrEqual' : 'Less', [cols, bound], name('real_keys')));
  }
  if (fused.keyPadding) {
    const padding = nodes.add('Unsqueeze', [fused.keyPadding, constant('padding_axes', [1, 2], [2], 'int64')], name('padding_b11t'));
    rules.push(nodes.add('Cast', [padding], name('padding'), [intAttribute('to', BOOL)]));
  }
  if (fused.allowed) rules.push(fused.allowed);
  return rules.reduce<string | undefined>((all, rule, k) => (all ? nodes.add('And', [all, rule], name(`allowed_${k}`)) : rule), undefined);
}

/**
 * Rotary as the kernel applies it, on `[batch, T, n, d]`, from its `[positions, r/2]`
 * tables: the first r channels are rotated (r = d, or less for partial rotary), the
 * rest pass through. Tables of a half-precision export are cast to float32 like q and k.
 */
function rotate(
  nodes: NodeList,
  rotary: NonNullable<FusedAttention['rotary']>,
  x: string,
  positions: string,
  name: (what: string) => string,
  constant: Constant,
  what: string,
  asFloat: AsFloat,
): string {
  const table = (t: string, which: string): string =>
    nodes.add('Unsqueeze', [nodes.add('Gather', [asFloat(t, `${what}_${which}_f32`), positions], name(`${what}_${which}_rows`), [intAttribute('axis', 0)]), constant(`${what}_${which}_axes`, rotary.interleaved ? [0, 2, 4] : [0, 2], rotary.interleaved ? [3] : [2], 'int64')], name(`${what}_${which}`));
  const cos = table(rotary.cos, 'cos');
  const sin = table(rotary.sin, 'sin');
  // r/2 from the table's width, r = 2 · r/2
  const half = nodes.add('Slice', [nodes.add('Shape', [rotary.cos], name(`${what}_table_dims`)), constant(`${what}_one_a`, [1], [1], 'int64'), constant(`${what}_two_a`, [2], [1], 'int64')], name(`${what}_half`));
  const width = nodes.add('Mul', [half, constant(`${what}_two_b`, [2], [1], 'int64')], name(`${what}_width`));
  const channels = (from: string, to: string, which: string): string => nodes.add('Slice', [x, from, to, constant(`${what}_${which}_axis`, [3], [1], 'int64')], name(`${what}_${which}`));
  const start = constant(`${what}_start`, [0], [1], 'int64');
  const end = constant(`${what}_end`, [2 ** 53], [1], 'int64');
  const part = channels(start, width, 'rotated_in');
  const rest = channels(width, end, 'passed');
  let rotated: string;
  if (rotary.interleaved) {
    // pairs (x0, x1), (x2, x3), …: `[batch, T, n, r/2, 2]`
    const pairs = nodes.add('Reshape', [part, constant(`${what}_pairs_shape`, [0, 0, 0, -1, 2], [5], 'int64')], name(`${what}_pairs`));
    const element = (k: number): string => nodes.add('Slice', [pairs, constant(`${what}_p${k}_from`, [k], [1], 'int64'), constant(`${what}_p${k}_to`, [k + 1], [1], 'int64'), constant(`${what}_p${k}_axis`, [4], [1], 'int64')], name(`${what}_p${k}`));
    const [a, b] = [element(0), element(1)];
    const first = nodes.add('Sub', [nodes.add('Mul', [a, cos], name(`${what}_ac`)), nodes.add('Mul', [b, sin], name(`${what}_bs`))], name(`${what}_r0`));
    const second = nodes.add('Add', [nodes.add('Mul', [b, cos], name(`${what}_bc`)), nodes.add('Mul', [a, sin], name(`${what}_as`))], name(`${what}_r1`));
    const joined = nodes.add('Concat', [first, second], name(`${what}_rpairs`), [intAttribute('axis', 4)]);
    rotated = nodes.add('Reshape', [joined, constant(`${what}_flat_shape`, [0, 0, 0, -1], [4], 'int64')], name(`${what}_rotated_pairs`));
  } else {
    // halves: (x1, x2) ↦ (x1·cos − x2·sin, x2·cos + x1·sin)
    const inPart = (from: string, to: string, which: string): string => nodes.add('Slice', [part, from, to, constant(`${what}_${which}_axis`, [3], [1], 'int64')], name(`${what}_${which}`));
    const x1 = inPart(start, half, 'x1');
    const x2 = inPart(half, end, 'x2');
    const first = nodes.add('Sub', [nodes.add('Mul', [x1, cos], name(`${what}_x1c`)), nodes.add('Mul', [x2, sin], name(`${what}_x2s`))], name(`${what}_y1`));
    const second = nodes.add('Add', [nodes.add('Mul', [x2, cos], name(`${what}_x2c`)), nodes.add('Mul', [x1, sin], name(`${what}_x1s`))], name(`${what}_y2`));
    rotated = nodes.add('Concat', [first, second], name(`${what}_rotated_halves`), [intAttribute('axis', 3)]);
  }
  return nodes.add('Concat', [rotated, rest], name(`${what}_rotated`), [intAttribute('axis', 3)]);
}

/**
 * A fused layer's values by head, `[batch, kv, T, d]` in float32 (each kv head once; the
 * norms group the query heads against it): from the kernel's value input (`values`, in
 * the keys' layout), or the third part of its packed or projected q, k and v.
 */
export function fusedValues(nodes: NodeList, fused: FusedAttention, values: string, layer: number): string {
  // names of their own: the projection's parts are made again here, beside those of the scores
  const name = (what: string): string => `legal_attn.fused.values_${what}.${layer}`;
  const constant: Constant = (what, v, dims, type) => nodes.constant(name(`c_${what}`), v, dims, type);
  const asFloat: AsFloat = (tensor, what) => (fused.type === 'float32' ? tensor : nodes.add('Cast', [tensor], name(what), [intAttribute('to', FLOAT)]));
  const axis = (k: number, what: string): string => constant(what, [k], [1], 'int64');
  const slice = (all: string, from: number, to: number, along: number, what: string): string => nodes.add('Slice', [all, axis(from, `${what}_from`), axis(to, `${what}_to`), axis(along, `${what}_axis`)], name(what));
  const byHead = (v: string): string => nodes.add('Transpose', [v], name('v_bntd'), [intsAttribute('perm', [0, 2, 1, 3])]);
  const { heads, kvHeads } = fused;
  // `[batch, T, n, d]` first, as the queries and keys are read
  if (fused.projection) return byHead(projected(nodes, fused, fused.projection, name, constant, asFloat)('v'));
  if (fused.key === '' && fused.op === 'MultiHeadAttention') return byHead(nodes.add('Squeeze', [slice(asFloat(fused.query, 'qkv_f32_v'), 2, 3, 3, 'v_packed'), axis(3, 'v_squeeze_axis')], name('v')));
  if (fused.key === '') return byHead(slice(nodes.add('Reshape', [asFloat(fused.query, 'qkv_f32_v'), constant('packed_shape_v', [0, 0, heads + 2 * kvHeads, -1], [4], 'int64')], name('qkv_v')), heads + kvHeads, heads + 2 * kvHeads, 2, 'v'));
  const floats = asFloat(values, 'v_f32');
  return fused.keyLayout === 'heads' ? floats : byHead(nodes.add('Reshape', [floats, constant('v_shape', [0, 0, kvHeads, -1], [4], 'int64')], name('v')));
}
