import { type NodeProto, type GraphProto } from '../onnx/proto.js';
import type { NodeList } from '../onnx/build.js';

/** The body of the loop: nodes, with the block's rows (row indices) and what it gives. */
export interface BlockBody {
  nodes: NodeList;
  /** `[B]` int64 indices of the block's queries, clamped to T − 1 (the last block repeats its last row). */
  rows: string;
  /** `[1, 1, B, 1]` float: 1 for the block's real rows, 0 for repeated ones. */
  valid: string;
  /** The block's rows of a tensor whose axis −2 is the queries, or 1 where it broadcasts (any rank, scalars included; `rank` where known). */
  rowsOf: (tensor: string, what: string, rank?: number) => string;
}

// Operators whose output row i depends only on row i of each input that has rows (broadcasting aligns axis −2).
const ELEMENTWISE = new Set([
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Min', 'Max', 'Mod', 'Where',
  'And', 'Or', 'Xor', 'Not', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual',
  'Cast', 'Identity', 'Neg', 'Abs', 'IsNaN', 'IsInf', 'Sqrt', 'Exp', 'Log', 'Tanh', 'Sigmoid', 'Clip',
]);
// How far up a mask's making is followed; an export builds its mask in a dozen nodes or so.
const MAX_DEPTH = 24;

/**
 * The block's rows of a tensor on the score path (a layer's mask), computed from the
 * rows of the inputs it is made of where it is made elementwise (and by Expand), so that
 * a mask the export builds as `[batch, 1, T, T]` (1 GiB at 16,384 tokens) is only ever
 * made `[batch, 1, B, T]` at a time, inside the block. Where its making is anything
 * else, that tensor's rows are gathered whole, as `body.rowsOf` does.
 */
export function upstreamRows(body: BlockBody, graph: GraphProto, rankOf: (tensor: string) => number | undefined): (tensor: string, what: string) => string {
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producer.set(output, node);
  const made = new Map<string, string>();
  const rowsOf = (tensor: string, what: string, depth: number): string => {
    const rank = rankOf(tensor);
    // a scalar or a vector broadcasts along the keys: the same for every row
    if (rank !== undefined && rank < 2) return tensor;
    const known = made.get(tensor);
    if (known) return known;
    const node = producer.get(tensor);
    const op = node?.opType ?? '';
    const followed = node && !node.domain && (node.output ?? []).length === 1 && depth < MAX_DEPTH && (ELEMENTWISE.has(op) || op === 'Expand');
    let rows: string;
    if (!followed) {
      rows = body.rowsOf(tensor, what, rank);
    } else {
      const inputs = (node.input ?? []).map((input, i) => {
        if (input === '') return input;
        if (op === 'Expand' && i === 1) return rowAxisToOne(body, input, `${what}_${depth}`);
        if (op === 'Clip' && i > 0) return input;
        return rowsOf(input, `${what}_${depth}_${i}`, depth + 1);
      });
      rows = `legal_attn.rows_of.${tensor}`;
      body.nodes.nodes.push({ ...node, input: inputs, output: [rows], name: `${node.name ?? tensor}@rows` });
    }
    made.set(tensor, rows);
    return rows;
  };
  return (tensor, what) => rowsOf(tensor, what, 0);
}

/** An Expand's target shape with its entry for axis −2 set to 1, so that the expanded tensor keeps the block's rows. */
function rowAxisToOne(body: BlockBody, shape: string, what: string): string {
  const nodes = body.nodes;
  const name = (suffix: string): string => `legal_attn.rows_of.${what}.${suffix}`;
  const length = nodes.add('Squeeze', [nodes.add('Shape', [shape], name('length_1d'))], name('length'));
  const rowAxis = nodes.add('Sub', [length, nodes.constant(name('two'), [2], [], 'int64')], name('row_axis'));
  const axes = nodes.add('Range', [nodes.constant(name('zero'), [0], [], 'int64'), length, nodes.constant(name('one'), [1], [], 'int64')], name('axes'));
  return nodes.add('Where', [nodes.add('Equal', [axes, rowAxis], name('is_row_axis')), nodes.constant(name('one_dim'), [1], [], 'int64'), shape], name('shape'));
}
