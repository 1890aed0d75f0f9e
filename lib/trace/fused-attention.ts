import { intAttribute, intsAttribute, NodeList, type NodeProto } from './onnx-build.js';
import { FLOAT32, type GraphProto } from './onnx-model.js';

/**
 * Attention fused into one kernel never exposes its probabilities, but they are a pure
 * function of the kernel's queries and keys, its scale and its mask rule. For each
 * fused node legal-attn reads those off the node and computes P `[batch, heads, T, T]`
 * beside it, in float32, with the kernel's own rule: then every reduction and full map
 * reads P as for a decomposed graph.
 */
export interface FusedAttention {
  op: 'GroupQueryAttention';
  /** `[batch, T, heads·d]`, or q, k and v packed `[batch, T, (heads + 2·kv)·d]` when `key` is ''. */
  query: string;
  key: string;
  heads: number;
  kvHeads: number;
  /** The kernel's scale, or 0 for 1/√d. */
  scale: number;
  /** Rotary applied inside the kernel (`do_rotary`), with its half-width cos and sin tables. */
  rotary?: { cos: string; sin: string; interleaved: boolean };
  /** Keys j with i − j < window are seen from query i; -1: no window. */
  window: number;
  /** s ↦ softcap·tanh(s / softcap) before the mask; 0: none. */
  softcap: number;
  /** int32 `[batch]`: the last real position of each sequence (right padding). */
  seqlensK: string;
  /** Element type of the query, where the graph tells (`float32`, `float16`, …). */
  type: string;
}

/** The fused attention operators legal-attn reads, and what it says of the others. */
export const READ_FUSED = new Set(['GroupQueryAttention']);

const attribute = (node: NodeProto, name: string): number | undefined => {
  const a = node.attribute?.find((x) => x.name === name);
  if (!a) return undefined;
  // a float attribute (scale, softcap) carries f, an int one i; the other field is absent or 0
  return a.f ? Number(a.f) : Number(a.i ?? 0);
};

/** Reads a GroupQueryAttention node (com.microsoft): what P needs, or why it cannot be read. */
export function readGroupQueryAttention(node: NodeProto, type: string): FusedAttention | string {
  const input = (k: number): string => node.input?.[k] ?? '';
  if ((attribute(node, 'smooth_softmax') ?? 0) !== 0) return 'smooth_softmax adds a virtual zero logit legal-attn does not reproduce';
  if (input(9) !== '' || input(10) !== '') return 'position_ids or attention_bias inputs';
  const rotary = (attribute(node, 'do_rotary') ?? 0) !== 0;
  return {
    op: 'GroupQueryAttention',
    query: input(0),
    key: input(1),
    heads: attribute(node, 'num_heads') ?? 0,
    kvHeads: attribute(node, 'kv_num_heads') ?? 0,
    scale: attribute(node, 'scale') ?? 0,
    ...(rotary ? { rotary: { cos: input(7), sin: input(8), interleaved: (attribute(node, 'rotary_interleaved') ?? 0) !== 0 } } : {}),
    window: attribute(node, 'local_window_size') ?? -1,
    softcap: attribute(node, 'softcap') ?? 0,
    seqlensK: input(5),
    type,
  };
}

/**
 * The nodes that compute layer `layer`'s P into `output` from a fused node's queries
 * and keys, with its rotary, scale, soft-cap, causal window and padding. Grouped heads
 * are kept apart as `[batch, kv, group, T, d]` so that no key is repeated.
 */
export function probabilityNodes(fused: FusedAttention, layer: number, output: string): NodeProto[] {
  const nodes = new NodeList(`legal_attn/fused.${layer}/`);
  const name = (what: string): string => `legal_attn.fused.${what}.${layer}`;
  const constant = (what: string, values: number[], dims: number[], type: 'float' | 'int64'): string => nodes.constant(name(`c_${what}`), values, dims, type);
  const { heads, kvHeads } = fused;
  const group = heads / kvHeads;
  const asFloat = (tensor: string, what: string): string => (fused.type === 'float32' ? tensor : nodes.add('Cast', [tensor], name(what), [intAttribute('to', FLOAT32)]));
  const axis = (k: number, what: string): string => constant(what, [k], [1], 'int64');

  // q `[batch, T, heads, d]` and k `[batch, T, kv, d]`, unpacked where the node packs them.
  let q: string;
  let k: string;
  if (fused.key === '') {
    const all = nodes.add('Reshape', [asFloat(fused.query, 'qkv_f32'), constant('packed_shape', [0, 0, heads + 2 * kvHeads, -1], [4], 'int64')], name('qkv'));
    const slice = (from: number, to: number, what: string): string => nodes.add('Slice', [all, axis(from, `${what}_from`), axis(to, `${what}_to`), axis(2, `${what}_axis`)], name(what));
    q = slice(0, heads, 'q');
    k = slice(heads, heads + kvHeads, 'k');
  } else {
    q = nodes.add('Reshape', [asFloat(fused.query, 'q_f32'), constant('q_shape', [0, 0, heads, -1], [4], 'int64')], name('q'));
    k = nodes.add('Reshape', [asFloat(fused.key, 'k_f32'), constant('k_shape', [0, 0, kvHeads, -1], [4], 'int64')], name('k'));
  }
  const length = nodes.add('Gather', [nodes.add('Shape', [q], name('length_dims')), constant('one', [1], [], 'int64')], name('length'), [intAttribute('axis', 0)]);
  const positions = nodes.add('Range', [constant('zero', [0], [], 'int64'), length, constant('step', [1], [], 'int64')], name('positions'));
  if (fused.rotary) {
    q = rotate(nodes, fused.rotary, q, positions, name, constant, 'q', asFloat);
    k = rotate(nodes, fused.rotary, k, positions, name, constant, 'k', asFloat);
  }
  // scores `[batch, kv, group, T, T]`: each group of query heads against its one key head
  const grouped = nodes.add('Transpose', [nodes.add('Reshape', [q, constant('group_shape', [0, 0, kvHeads, group, -1], [5], 'int64')], name('q_grouped'))], name('q_bkgtd'), [intsAttribute('perm', [0, 2, 3, 1, 4])]);
  const keys = nodes.add('Unsqueeze', [nodes.add('Transpose', [k], name('k_bkdt'), [intsAttribute('perm', [0, 2, 3, 1])]), axis(2, 'group_axis')], name('k_bk1dt'));
  let scores = nodes.add('MatMul', [grouped, keys], name('qk'));
  const d = nodes.add('Cast', [nodes.add('Gather', [nodes.add('Shape', [q], name('q_shape_again')), constant('last', [3], [], 'int64')], name('head_size'), [intAttribute('axis', 0)])], name('head_size_f32'), [intAttribute('to', FLOAT32)]);
  const scale = fused.scale > 0 ? constant('scale', [fused.scale], [], 'float') : nodes.add('Reciprocal', [nodes.add('Sqrt', [d], name('sqrt_d'))], name('scale'));
  scores = nodes.add('Mul', [scores, scale], name('scaled'));
  if (fused.softcap > 0) {
    const cap = constant('softcap', [fused.softcap], [], 'float');
    scores = nodes.add('Mul', [nodes.add('Tanh', [nodes.add('Div', [scores, cap], name('capped_in'))], name('capped_tanh')), cap], name('capped'));
  }
  // allowed keys: causal, within the window, and real (j ≤ the sequence's last position)
  const rows = nodes.add('Unsqueeze', [positions, axis(1, 'row_axis')], name('rows'));
  const cols = nodes.add('Unsqueeze', [positions, axis(0, 'col_axis')], name('cols'));
  let allowed = nodes.add('LessOrEqual', [cols, rows], name('causal'));
  if (fused.window > 0) {
    const reach = nodes.add('Sub', [rows, constant('window', [fused.window], [], 'int64')], name('reach'));
    allowed = nodes.add('And', [allowed, nodes.add('Greater', [cols, reach], name('in_window'))], name('windowed'));
  }
  const last = nodes.add('Reshape', [nodes.add('Cast', [fused.seqlensK], name('last_i64'), [intAttribute('to', 7)]), constant('last_shape', [-1, 1, 1, 1, 1], [5], 'int64')], name('last'));
  allowed = nodes.add('And', [allowed, nodes.add('LessOrEqual', [cols, last], name('real_keys'))], name('allowed'));
  const masked = nodes.add('Where', [allowed, scores, constant('lowest', [-3.4028234663852886e38], [], 'float')], name('masked'));
  // `[batch, heads, T, T]` before the Softmax, so that its scores line up with P for the entropy
  const byHead = nodes.add('Reshape', [masked, constant('heads_shape', [0, heads, -1, 0], [4], 'int64')], name('scores'));
  nodes.add('Softmax', [byHead], output, [intAttribute('axis', -1)]);
  return nodes.nodes;
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
  constant: (what: string, values: number[], dims: number[], type: 'float' | 'int64') => string,
  what: string,
  asFloat: (tensor: string, what: string) => string,
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

/** The fused nodes of a graph that legal-attn reads, with their layer order. */
export function fusedNodes(graph: GraphProto): Array<{ position: number; node: NodeProto }> {
  return (graph.node ?? []).flatMap((node, position) => (READ_FUSED.has(node.opType ?? '') && node.domain === 'com.microsoft' ? [{ position, node }] : []));
}
