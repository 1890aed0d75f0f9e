import { intAttribute, intsAttribute, NodeList } from '../onnx/build.js';
import { zeroAfter } from './reductions/schedule.js';
import { upstreamRows, type BlockBody } from './upstream-rows.js';
import { type NodeProto, type ValueInfoProto, FLOAT, INT64, type GraphProto } from '../onnx/proto.js';

/**
 * A layer's attention `scores → mask → Softmax → ·V` rewritten as an ONNX Loop over
 * blocks of B queries: each block computes its rows of the scores, P and the context,
 * and the reductions of its rows, so that no `[heads, T, T]` tensor exists, only
 * `[heads, B, T]` ones. The model's own nodes of that stretch are left out of the graph.
 */

/** The nodes of one layer's attention, from the query·key product to the product with the values. */
export interface AttentionStretch {
  product: NodeProto;
  /** Score-path nodes in order, each with the index of its input that carries the scores. */
  scorePath: Array<{ node: NodeProto; flowing: number }>;
  softmax: NodeProto;
  probabilityPath: NodeProto[];
  values: NodeProto;
  /** Positions in `graph.node` of every node above. */
  positions: number[];
}

// Elementwise operators that may sit between q·k and the Softmax, and between the Softmax and ·V.
const SCORE_OPS = new Set(['Add', 'Sub', 'Mul', 'Div', 'Where', 'Cast', 'Tanh', 'Clip', 'Min', 'Max', 'Identity']);
const PROBABILITY_OPS = new Set(['Cast', 'Identity', 'Dropout']);

/** The stretch of a layer whose Softmax is `softmax`, or undefined where it is not a plain MatMul chain that can be blocked. */
export function attentionStretch(graph: GraphProto, softmax: NodeProto, productOutput: string | undefined): AttentionStretch | undefined {
  const nodes = graph.node ?? [];
  const position = new Map(nodes.map((n, k) => [n, k]));
  const producer = new Map(nodes.flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
  const consumers = new Map<string, NodeProto[]>();
  for (const n of nodes) for (const i of n.input ?? []) consumers.set(i, [...(consumers.get(i) ?? []), n]);
  const product = productOutput ? producer.get(productOutput) : undefined;
  if (product?.opType !== 'MatMul') return undefined;
  // back from the Softmax to the product, one flowing input per node
  const scorePath: AttentionStretch['scorePath'] = [];
  let tensor = softmax.input?.[0] ?? '';
  while (tensor !== productOutput) {
    const node = producer.get(tensor);
    if (!node || !SCORE_OPS.has(node.opType ?? '') || scorePath.length > 8) return undefined;
    const flowing = (node.input ?? []).findIndex((input) => reaches(input, productOutput, producer, 8));
    if (flowing < 0) return undefined;
    scorePath.unshift({ node, flowing });
    tensor = node.input![flowing]!;
  }
  // forward from the Softmax to the product with the values, through a single chain
  const probabilityPath: NodeProto[] = [];
  let flowing = softmax.output?.[0] ?? '';
  for (;;) {
    const next = consumers.get(flowing) ?? [];
    if (next.length !== 1) return undefined;
    const node = next[0]!;
    if (node.opType === 'MatMul' && node.input?.[0] === flowing) {
      const stretch = [product, ...scorePath.map((s) => s.node), softmax, ...probabilityPath, node];
      // every intermediate tensor must stay inside the stretch (nothing else may read the scores or P)
      const inside = new Set(stretch);
      for (const n of stretch.slice(0, -1)) for (const o of n.output ?? []) if ((consumers.get(o) ?? []).some((c) => !inside.has(c))) return undefined;
      if ((graph.output ?? []).some((o) => stretch.slice(0, -1).some((n) => n.output?.includes(o.name ?? '')))) return undefined;
      return { product, scorePath, softmax, probabilityPath, values: node, positions: stretch.map((n) => position.get(n)!) };
    }
    if (!PROBABILITY_OPS.has(node.opType ?? '') || probabilityPath.length > 4) return undefined;
    probabilityPath.push(node);
    flowing = node.output?.[0] ?? '';
  }
}

function reaches(tensor: string, target: string | undefined, producer: ReadonlyMap<string, NodeProto>, hops: number): boolean {
  if (tensor === target) return true;
  const node = producer.get(tensor);
  if (!node || hops === 0 || !SCORE_OPS.has(node.opType ?? '')) return false;
  return (node.input ?? []).some((input) => reaches(input, target, producer, hops - 1));
}

/**
 * A node of the stretch run on the block: its flowing input replaced; its other inputs
 * cut to the block's rows on the score path (a mask), kept whole by the products (keys, values).
 */
function onBlock(body: BlockBody, node: NodeProto, flowing: number, input: string, k: number, rowsOf: ((tensor: string, what: string) => string) | undefined): string {
  // Clip's bounds and Dropout's ratio and mode must stay scalars
  const scalarInput = (i: number): boolean => ['Clip', 'Dropout'].includes(node.opType ?? '') && i > 0;
  const inputs = (node.input ?? []).map((name, i) => (i === flowing ? input : name === '' || !rowsOf || scalarInput(i) ? name : rowsOf(name, `operand${k}_${i}`)));
  const output = node.output![0]!;
  body.nodes.nodes.push({ ...node, input: inputs, output: [output], name: `${node.name ?? output}@block` });
  return output;
}

/** The stretch's tensors on one block: its queries `[…, B, d]`, scores, P and context `[…, B, …]`. */
export interface StretchOnBlock {
  queries: string;
  scores: string;
  probabilities: string;
  context: string;
}

/**
 * The model's own stretch run on the block's queries: the product with the keys, the
 * score path (the mask's rows made in the block from what it is made of, not cut from a
 * whole `[T, T]` mask: `upstreamRows`), the Softmax, and the product with the values.
 * `beforeSoftmax` may replace the block's scores on their way to the Softmax (the
 * knockout's Where); `scores` are those the model computed.
 */
export function stretchOnBlock(body: BlockBody, stretch: AttentionStretch, graph: GraphProto, rankOf: (tensor: string) => number | undefined, beforeSoftmax?: (scores: string) => string): StretchOnBlock {
  const queries = stretch.product.input![0]!;
  const q = body.rowsOf(queries, 'queries', rankOf(queries));
  const rowsOf = upstreamRows(body, graph, rankOf);
  let flowing = onBlock(body, stretch.product, 0, q, 0, undefined);
  stretch.scorePath.forEach(({ node, flowing: at }, k) => (flowing = onBlock(body, node, at, flowing, k + 1, rowsOf)));
  const scores = flowing;
  let p = onBlock(body, stretch.softmax, 0, beforeSoftmax ? beforeSoftmax(scores) : scores, 90, rowsOf);
  const probabilities = p;
  stretch.probabilityPath.forEach((node, k) => (p = onBlock(body, node, 0, p, 100 + k, rowsOf)));
  return { queries: q, scores, probabilities, context: onBlock(body, stretch.values, 0, p, 200, undefined) };
}

/** What a blocked layer's body returns per block, and how its rows go back together. */
export interface BlockOutput {
  /** The tensor inside the body. */
  inner: string;
  /** The name it has after the loop. */
  outer: string;
  /** Axis of the rows (queries) in the block's tensor; `sum` for partial sums added over blocks. */
  rows: number | 'sum';
  /** Rank of the block's tensor. */
  rank: number;
  /** Its element type where not float32 (the context of a half-precision layer). */
  elemType?: number;
}


const GRAPH_ATTRIBUTE = 5;
const boolType = 9;

const valueInfo = (name: string, elemType: number): ValueInfoProto => ({ name, type: { tensorType: { elemType } } });
/** A scalar's value info (the loop's iteration number and condition must say their shape). */
const scalarInfo = (name: string, elemType: number): ValueInfoProto => ({ name, type: { tensorType: { elemType, shape: { dim: [] } } } });

/**
 * One layer's Loop: `emit` fills the body (the model's stretch on the block, then the
 * reductions) and says what it returns; after the loop, rows are joined back to
 * `[…, T, …]` and partial sums added. `length` is T (int64 scalar) and `blockRows` B.
 */
export function blockedLoop(layer: number, length: string, blockRows: number, emit: (body: BlockBody) => BlockOutput[], waitFor: readonly string[]): { nodes: NodeProto[] } {
  const prefix = `legal_attn.block.${layer}`;
  const outer = new NodeList(`${prefix}/`);
  const constant = (list: NodeList, what: string, values: number[], dims: number[], type: 'float' | 'int64'): string => list.constant(`${prefix}.c_${what}`, values, dims, type);
  const b = constant(outer, 'rows', [blockRows], [], 'int64');
  // ⌈T / B⌉ blocks, counted only once `waitFor` are computed: what the layer's loop must not run before (a pooled state)
  const padded = outer.add('Add', [length, outer.add('Sub', [b, constant(outer, 'one', [1], [], 'int64')], `${prefix}.b_minus_1`)], `${prefix}.padded`);
  const later = waitFor.length > 0 ? outer.add('Add', [padded, zeroAfter(outer, waitFor, constant(outer, 'zero_count', [0], [], 'int64'), `block.${layer}`)], `${prefix}.padded_later`) : padded;
  const trips = outer.add('Div', [later, b], `${prefix}.trips`);
  const keepGoing = outer.add('Constant', [], `${prefix}.true`, [{ name: 'value', t: { dims: [], dataType: boolType, int32Data: [1] }, type: 4 }]);

  const body = new NodeList(`${prefix}/body/`);
  const iteration = `${prefix}.iteration`;
  const condition = `${prefix}.condition`;
  const start = body.add('Mul', [iteration, constant(body, 'rows_in_body', [blockRows], [], 'int64')], `${prefix}.start`);
  const offsets = constant(body, 'offsets', Array.from({ length: blockRows }, (_, k) => k), [blockRows], 'int64');
  const wanted = body.add('Add', [start, offsets], `${prefix}.wanted`);
  const lastRow = body.add('Sub', [length, constant(body, 'one_in_body', [1], [], 'int64')], `${prefix}.last_row`);
  const rows = body.add('Min', [wanted, lastRow], `${prefix}.row_index`);
  const valid = body.add(
    'Reshape',
    [body.add('Cast', [body.add('Less', [wanted, length], `${prefix}.is_real`)], `${prefix}.real_f32`, [intAttribute('to', FLOAT)]), constant(body, 'valid_shape', [1, 1, blockRows, 1], [4], 'int64')],
    `${prefix}.valid`,
  );
  let operand = 0;
  const rowsOf = (tensor: string, what: string, rank?: number): string => {
    const k = operand++;
    // Loop-invariant work stays outside the body. A tensor of unknown rank is lifted to rank 2 first (a copy: only
    // where the graph does not say its rank, which for a layer's mask it does).
    const base = rank !== undefined && rank >= 2 ? tensor : outer.add('Expand', [tensor, constant(outer, `rank2_${k}`, [1, 1], [2], 'int64')], `${prefix}.${what}_2d_${k}`);
    const height = outer.add('Gather', [outer.add('Shape', [base], `${prefix}.${what}_dims_${k}`), constant(outer, `minus2_${k}`, [-2], [], 'int64')], `${prefix}.${what}_height_${k}`, [intAttribute('axis', 0)]);
    const lastOfIt = outer.add('Sub', [height, constant(outer, `one_${k}`, [1], [], 'int64')], `${prefix}.${what}_last_${k}`);
    const clamped = body.add('Min', [rows, lastOfIt], `${prefix}.${what}_rows_${k}`);
    return body.add('Gather', [base, clamped], `${prefix}.${what}_block_${k}`, [intAttribute('axis', -2)]);
  };
  const emitted = emit({ nodes: body, rows, valid, rowsOf });
  // Names made in the body stay in it: those the emitters gave (the outer graph's names of the layer) get the block's prefix.
  const made = new Set(body.nodes.flatMap((n) => n.output ?? []).filter((name) => !name.startsWith(prefix)));
  const inBody = (name: string): string => (made.has(name) ? `${prefix}/${name}` : name);
  for (const n of body.nodes) {
    n.input = (n.input ?? []).map(inBody);
    n.output = (n.output ?? []).map(inBody);
  }
  const outputs = emitted.map((o) => ({ ...o, inner: inBody(o.inner) }));
  // Partial sums are carried from block to block (a running total), not scanned: a scan would hold one `[…, T]` sum per block.
  const summed = outputs.filter((o) => o.rows === 'sum');
  const scanned = outputs.filter((o): o is typeof o & { rows: number } => o.rows !== 'sum');
  const carriedIn = summed.map((_, k) => `${prefix}.total_in_${k}`);
  const carriedOut = summed.map((o, k) => body.add('Add', [carriedIn[k]!, o.inner], `${prefix}.total_out_${k}`));
  const conditionOut = body.add('Identity', [condition], `${prefix}.condition_out`);
  const graph: GraphProto = {
    name: `${prefix}.body`,
    node: body.nodes,
    input: [scalarInfo(iteration, INT64), scalarInfo(condition, boolType), ...carriedIn.map((name) => valueInfo(name, FLOAT))],
    output: [scalarInfo(conditionOut, boolType), ...carriedOut.map((name) => valueInfo(name, FLOAT)), ...scanned.map((o) => valueInfo(o.inner, o.elemType ?? FLOAT))],
  };
  // The totals start from a scalar 0, which the first block's sum broadcasts to its shape.
  const zero = constant(outer, 'zero_total', [0], [], 'float');
  const scans = scanned.map((o) => `${o.outer}.scan`);
  outer.nodes.push({
    opType: 'Loop',
    input: [trips, keepGoing, ...summed.map(() => zero)],
    output: [...summed.map((o) => o.outer), ...scans],
    name: `${prefix}/loop`,
    attribute: [{ name: 'body', g: graph, type: GRAPH_ATTRIBUTE }],
  });
  scanned.forEach((o, k) => joinRows(outer, scans[k]!, o, length, `${prefix}.${k}`, constant));
  return { nodes: outer.nodes };
}

/** `[blocks, …, B, …]` → `[…, T, …]`: the blocks axis moved beside the rows, merged with them, cut to T. */
function joinRows(
  outer: NodeList,
  scan: string,
  output: BlockOutput & { rows: number },
  length: string,
  prefix: string,
  constant: (list: NodeList, what: string, values: number[], dims: number[], type: 'float' | 'int64') => string,
): void {
  // the block's tensor has rank r, rows at axis a; the scan output has rank r + 1, rows at a + 1
  const a = output.rows;
  const axes = Array.from({ length: output.rank + 1 }, (_, k) => k);
  const moved = outer.add('Transpose', [scan], `${prefix}_moved`, [intsAttribute('perm', [...axes.slice(1, a + 1), 0, ...axes.slice(a + 1)])]);
  // merge the blocks axis (now at a) with the rows after it
  const dims = outer.add('Shape', [moved], `${prefix}_dims`);
  const slice = (from: number, to: number, what: string): string =>
    outer.add('Slice', [dims, constant(outer, `${prefix}_${what}_from`, [from], [1], 'int64'), constant(outer, `${prefix}_${what}_to`, [to], [1], 'int64')], `${prefix}_${what}`);
  const shape = outer.add('Concat', [slice(0, a, 'before'), constant(outer, `${prefix}_rest`, [-1], [1], 'int64'), slice(a + 2, output.rank + 1, 'after')], `${prefix}_shape`, [intAttribute('axis', 0)]);
  const merged = outer.add('Reshape', [moved, shape], `${prefix}_merged`);
  const end = outer.add('Unsqueeze', [length, constant(outer, `${prefix}_end_axis`, [0], [1], 'int64')], `${prefix}_end`);
  outer.add('Slice', [merged, constant(outer, `${prefix}_start`, [0], [1], 'int64'), end, constant(outer, `${prefix}_axis`, [a], [1], 'int64')], output.outer);
}
