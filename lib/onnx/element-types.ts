import { type GraphProto, type NodeProto } from './proto.js';

// ONNX TensorProto.DataType codes used below.
const UINT8 = 2;
const INT32 = 6;
const INT64 = 7;
const BOOL = 9;
const FLOAT = 1;

const INT64_OUT = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin']);
const BOOL_OUT = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);
const INT32_OUT = new Set(['MatMulInteger', 'ConvInteger']);
// Quantized products that return float32 (onnxruntime's fused forms).
const FLOAT_OUT = new Set(['DynamicQuantizeMatMul', 'MatMulIntegerToFloat']);
// The output takes the type of this input, where it is not the first.
const TYPE_FROM_INPUT: Readonly<Record<string, number>> = { Where: 1, DequantizeLinear: 1, CastLike: 1, QuantizeLinear: 2 };

const attribute = (node: NodeProto, name: string) => node.attribute?.find((a) => a.name === name);

/** The element type of each output of a node, from its inputs' types and its attributes. */
function outputTypes(node: NodeProto, typeOf: (name: string) => number | undefined): Array<number | undefined> {
  const op = node.opType ?? '';
  const count = node.output?.length ?? 0;
  const all = (type: number | undefined): Array<number | undefined> => Array.from({ length: count }, () => type);
  if (op === 'Cast') return all(Number(attribute(node, 'to')?.i ?? 0) || undefined);
  if (op === 'Constant') {
    const a = node.attribute?.[0];
    if (a?.t) return all(a.t.dataType ?? undefined);
    return all(a?.name?.startsWith('value_float') ? FLOAT : a?.name?.startsWith('value_int') ? INT64 : undefined);
  }
  if (op === 'ConstantOfShape') return all(attribute(node, 'value')?.t?.dataType ?? FLOAT);
  if (INT64_OUT.has(op)) return all(INT64);
  if (BOOL_OUT.has(op)) return all(BOOL);
  if (INT32_OUT.has(op)) return all(INT32);
  if (FLOAT_OUT.has(op)) return all(FLOAT);
  if (op === 'DynamicQuantizeLinear') return [UINT8, FLOAT, UINT8];
  if (op === 'QuantizeLinear' && !node.input?.[2]) return all(UINT8);
  if (op === 'TopK') return [typeOf(node.input?.[0] ?? ''), INT64];
  // onnxruntime's fused lookup: the normalised embeddings and their sum in the word table's type, a mask index in int32
  if (op === 'EmbedLayerNormalization') {
    const table = typeOf(node.input?.[2] ?? '');
    return [table, INT32, table];
  }
  const from = TYPE_FROM_INPUT[op];
  if (from !== undefined) return all(typeOf(node.input?.[from] ?? ''));
  const first = (node.input ?? []).find((name) => name !== '' && typeOf(name) !== undefined);
  return all(first === undefined ? undefined : typeOf(first));
}

/**
 * The element type (ONNX DataType code) of every tensor of a graph, where it can be told
 * without running it: declared types (inputs, outputs, value_info, initializers) first,
 * else propagated through the nodes in graph order (ONNX graphs are topologically
 * sorted). Enough to tell float32 from half precision and quantized tensors.
 */
export function elementTypes(graph: GraphProto): Map<string, number> {
  const types = new Map<string, number>();
  const declare = (name: string | null | undefined, type: number | null | undefined): void => {
    if (name && type) types.set(name, type);
  };
  for (const t of graph.initializer ?? []) declare(t.name, t.dataType);
  for (const v of [...(graph.input ?? []), ...(graph.valueInfo ?? []), ...(graph.output ?? [])]) declare(v.name, v.type?.tensorType?.elemType);
  const typeOf = (name: string): number | undefined => types.get(name);
  for (const node of graph.node ?? []) {
    outputTypes(node, typeOf).forEach((type, k) => {
      const name = node.output?.[k];
      if (name && type && !types.has(name)) types.set(name, type);
    });
  }
  return types;
}
