import { type GraphProto, type NodeProto, type TensorProto } from '../../onnx/proto.js';

/** Scores z = c · (q · kᵀ) + mask with a constant scale and a 0 / −large mask: what lets Σ p z be read off P·K. */
export interface AffineScores {
  query: string;
  /** `[batch, heads, T, head size]`. */
  keys: string;
  scale: { op: 'Mul' | 'Div'; value: string };
}

/** The query, keys and scale of a Softmax whose scores are affine in q·k, found by structure; undefined for any other form. */
export function affineScores(graph: GraphProto, producer: ReadonlyMap<string, NodeProto>, softmax: NodeProto): AffineScores | undefined {
  const scalar = (name: string): number | undefined => {
    const tensor = (graph.initializer ?? []).find((t) => t.name === name) ?? producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t ?? undefined;
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
export function hasNegativeInfinity(graph: GraphProto): boolean {
  const tensors: TensorProto[] = [...(graph.initializer ?? [])];
  for (const node of graph.node ?? []) for (const attribute of node.attribute ?? []) if (attribute.t) tensors.push(attribute.t);
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
