import path from 'node:path';
import type { AttentionSite, ExportFormat } from './graph-analysis.js';
import { byteLength, elementCount, typeName } from '../onnx/initializers.js';
import { BFLOAT16, type GraphProto, type NodeProto, type TensorProto } from '../onnx/proto.js';

// float32, float16, float64 and bfloat16: the types a checkpoint's precision is read from
const PRECISION_TYPES = new Set([1, 10, 11, 16]);
const DYNAMIC_QUANTIZATION = new Set(['DynamicQuantizeLinear', 'DynamicQuantizeMatMul', 'MatMulIntegerToFloat']);
const INTEGER_WEIGHTS = new Set([2, 3, 21, 22]);

const attributeInt = (node: NodeProto, name: string): number | undefined => {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? Number(a.i ?? 0) : undefined;
};
const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;

/** The float type holding most float weight elements. */
function precisionOf(initializers: readonly TensorProto[]): string {
  const elements = new Map<number, number>();
  for (const t of initializers) if (PRECISION_TYPES.has(t.dataType ?? 0)) elements.set(t.dataType!, (elements.get(t.dataType!) ?? 0) + elementCount(t));
  const [top] = [...elements].sort((a, b) => b[1] - a[1]);
  return top ? typeName(top[0]) : 'float32';
}

/** Each quantization scheme that onnxruntime's tools or model builder write, as found in the nodes. */
function quantizationOf(graph: GraphProto): string {
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const nodes = graph.node ?? [];
  const found: string[] = [];
  const nbits = nodes.filter((n) => n.opType === 'MatMulNBits');
  if (nbits.length > 0) {
    const [first] = nbits;
    found.push(`${attributeInt(first!, 'bits') ?? 4}-bit MatMulNBits (com.microsoft), block size ${attributeInt(first!, 'block_size') ?? '?'}, ${count(nbits.length, 'MatMul')}`);
  }
  const integer = nodes.filter((n) => n.opType === 'MatMulInteger' && initializers.has(n.input?.[1] ?? ''));
  if (integer.length > 0) {
    const weights = typeName(initializers.get(integer[0]!.input![1]!)?.dataType);
    found.push(`dynamic ${weights} (DynamicQuantizeLinear + MatMulInteger), ${count(integer.length, 'weight MatMul')}`);
  }
  const fused = nodes.filter((n) => n.opType === 'DynamicQuantizeMatMul' || n.opType === 'MatMulIntegerToFloat');
  if (fused.length > 0) found.push(`dynamic int8, fused (${fused[0]!.opType}), ${count(fused.length, 'MatMul')}`);
  const qdq = nodes.filter((n) => n.opType === 'DequantizeLinear' && INTEGER_WEIGHTS.has(initializers.get(n.input?.[0] ?? '')?.dataType ?? 0));
  if (qdq.length > 0) {
    const weights = typeName(initializers.get(qdq[0]!.input![0]!)?.dataType);
    found.push(`${weights} weights in QDQ form (DequantizeLinear → MatMul), ${count(qdq.length, 'tensor')}`);
  }
  const qlinear = nodes.filter((n) => n.opType === 'QLinearMatMul');
  if (qlinear.length > 0) found.push(`static int8 (QLinearMatMul), ${count(qlinear.length, 'MatMul')}`);
  const gathers = nodes.filter((n) => n.opType === 'GatherBlockQuantized');
  if (gathers.length > 0) found.push(`quantized embeddings (GatherBlockQuantized)`);
  return found.length > 0 ? found.join('; ') : 'none';
}

function layoutOf(externalData: readonly string[], graphName: string): string {
  if (externalData.length === 0) return `inline in ${graphName}`;
  const folders = [...new Set(externalData.map((file) => path.dirname(file)).filter((d) => d !== '.'))];
  const where = folders.length > 0 ? ` in ${folders.join(', ')}/` : '';
  return externalData.length === 1 ? `one external file${where} (${externalData[0]})` : `${count(externalData.length, 'external file')}${where} (one per tensor)`;
}

function attentionOf(sites: readonly AttentionSite[], precision: string): string {
  const types = [...new Set(sites.map((s) => s.type))];
  if (types.length === 0) return 'none found';
  const [only] = types;
  if (types.length > 1) return `${types.join(' and ')} (by layer); measured in float32`;
  if (only === precision) return only === 'float32' ? 'float32' : `${only}, measured in float32`;
  return `${only!} (Softmax between Casts from ${precision})${only === 'float32' ? '' : ', measured in float32'}`;
}

/** Bytes of the initializers' data as stored, all of them and the bfloat16 ones. */
function weightBytesOf(initializers: readonly TensorProto[]): { weightBytes: number; bfloat16Bytes: number } {
  let [weightBytes, bfloat16Bytes] = [0, 0];
  for (const t of initializers) {
    const bytes = byteLength(t) ?? 0;
    weightBytes += bytes;
    if (t.dataType === BFLOAT16) bfloat16Bytes += bytes;
  }
  return { weightBytes, bfloat16Bytes };
}

/** Precision, quantization, weights layout and size of a graph, read off its initializers and nodes. */
export function describeExport(graph: GraphProto, sites: readonly AttentionSite[], externalData: readonly string[], graphName: string): ExportFormat {
  const precision = precisionOf(graph.initializer ?? []);
  const activationScalesPerPass = (graph.node ?? []).some((n) => DYNAMIC_QUANTIZATION.has(n.opType ?? ''));
  return { precision, attention: attentionOf(sites, precision), quantization: quantizationOf(graph), weightsLayout: layoutOf(externalData, graphName), activationScalesPerPass, ...weightBytesOf(graph.initializer ?? []) };
}
