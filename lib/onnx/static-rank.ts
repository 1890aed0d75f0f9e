import { type GraphProto, type NodeProto } from './proto.js';

// Operators whose output has the rank of their broadcast inputs, or of their one input.
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Where', 'And', 'Or', 'Xor', 'Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'Max', 'Min', 'Mod']);
const SAME_RANK = new Set(['Concat', 'Tile', 'Pad', 'Cast', 'Neg', 'Not', 'Sqrt', 'Identity', 'Exp', 'Log', 'Tanh', 'Reciprocal', 'Relu', 'Sigmoid', 'Abs', 'Floor', 'Ceil', 'Softmax', 'Slice', 'Transpose', 'Clip', 'IsNaN', 'IsInf', 'Erf', 'CumSum', 'Trilu']);

/**
 * The rank of a tensor where the graph tells it without running: initializers,
 * constants, graph inputs, and what common operators make of them. Undefined where
 * it does not (a caller then keeps to what works at any rank).
 */
export function staticRank(graph: GraphProto): (tensor: string) => number | undefined {
  const producer = new Map<string, NodeProto>();
  for (const node of graph.node ?? []) for (const output of node.output ?? []) producer.set(output, node);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const inputs = new Map((graph.input ?? []).map((v) => [v.name ?? '', v]));
  const known = new Map<string, number | undefined>();
  /** Length of a 1-D constant (a shape or axes list), where it is a constant. */
  const constantLength = (tensor: string): number | undefined => {
    const init = initializers.get(tensor);
    if (init) return Number(init.dims?.[0] ?? 1);
    const node = producer.get(tensor);
    const value = node?.opType === 'Constant' ? node.attribute?.find((a) => a.name === 'value')?.t : undefined;
    return value ? Number(value.dims?.[0] ?? 1) : undefined;
  };
  const rank = (tensor: string, depth = 0): number | undefined => {
    if (known.has(tensor)) return known.get(tensor);
    if (depth > 64) return undefined;
    let result: number | undefined;
    const init = initializers.get(tensor);
    const input = inputs.get(tensor);
    const node = producer.get(tensor);
    if (init) result = init.dims?.length ?? 0;
    else if (input) result = input.type?.tensorType?.shape?.dim?.length;
    else if (node) {
      const op = node.opType ?? '';
      const ins = node.input ?? [];
      const of = (k: number): number | undefined => (ins[k] ? rank(ins[k], depth + 1) : undefined);
      if (op === 'Constant') result = node.attribute?.find((a) => a.name === 'value')?.t?.dims?.length ?? 0;
      else if (BROADCAST.has(op)) {
        const ranks = ins.filter(Boolean).map((i) => rank(i, depth + 1));
        result = ranks.every((r) => r !== undefined) ? Math.max(...(ranks)) : undefined;
      } else if (SAME_RANK.has(op)) result = of(0);
      else if (op === 'Shape' || op === 'Range' || op === 'NonZero') result = op === 'NonZero' ? 2 : 1;
      else if (op === 'Expand') {
        const [r, n] = [of(0), constantLength(ins[1] ?? '')];
        result = r !== undefined && n !== undefined ? Math.max(r, n) : undefined;
      } else if (op === 'Reshape' || op === 'ConstantOfShape') result = constantLength(ins[op === 'Reshape' ? 1 : 0] ?? '');
      else if (op === 'Unsqueeze' || op === 'Squeeze') {
        const axes = constantLength(ins[1] ?? '') ?? node.attribute?.find((a) => a.name === 'axes')?.ints?.length;
        const r = of(0);
        result = r !== undefined && axes !== undefined ? r + (op === 'Unsqueeze' ? axes : -axes) : undefined;
      } else if (op === 'Gather') {
        const [r, i] = [of(0), of(1)];
        result = r !== undefined && i !== undefined ? r - 1 + i : undefined;
      } else if (op === 'MatMul') {
        const [a, b] = [of(0), of(1)];
        // a 1-D operand drops an axis: only say the rank where both have at least 2
        result = a !== undefined && b !== undefined && a >= 2 && b >= 2 ? Math.max(a, b) : undefined;
      }
    }
    known.set(tensor, result);
    return result;
  };
  return (tensor) => rank(tensor);
}
