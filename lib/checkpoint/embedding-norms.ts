import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../errors.js';
import { byteLength, elementCount, readInitializer, readInitializerRanges, shapeOf, toFloat32, typeName } from '../onnx/initializers.js';
import { decodeModel } from '../onnx/model.js';
import { FLOAT_TYPES, INT8, UINT8, type GraphProto, type NodeProto, type TensorProto } from '../onnx/proto.js';
import { idTensors, isEmbedLayerNormalization } from './token-ids.js';

/** The token embedding table as the graph reads it: float rows, or integer rows dequantized per tensor, row or column. */
export type TokenEmbedding =
  | { kind: 'float'; table: TensorProto }
  | { kind: 'dequantized'; table: TensorProto; scale: TensorProto; zeroPoint?: TensorProto; axis?: number };

const QUANTIZED = new Set([INT8, UINT8]);
const attributeInt = (node: NodeProto, name: string): number | undefined => {
  const a = node.attribute?.find((x) => x.name === name);
  return a ? Number(a.i ?? 0) : undefined;
};

/**
 * Finds the token embedding as `findResidualStream` does (the Gather whose indices are
 * `input_ids`, passed on by `idTensors`, or the word table of onnxruntime's fused
 * EmbedLayerNormalization) and how its table is stored: a float initializer; an
 * int8/uint8 one looked up then dequantized per tensor (Gather → DequantizeLinear, as
 * quantize_dynamic writes it); or one dequantized per tensor, row or column before the
 * lookup (DequantizeLinear → Gather, QDQ). Any other form is returned as the reason it is not read.
 */
export function findTokenEmbedding(graph: GraphProto): TokenEmbedding | string {
  const nodes = graph.node ?? [];
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  const ids = idTensors(nodes);
  const fused = nodes.find((n) => isEmbedLayerNormalization(n) && ids.has(n.input?.[0] ?? ''));
  if (fused) {
    const table = initializers.get(fused.input?.[2] ?? '');
    if (!table || !FLOAT_TYPES.has(table.dataType ?? 0) || shapeOf(table).length !== 2) return `the word embedding of ${fused.name ?? 'EmbedLayerNormalization'} is not a 2-d float initializer; not read`;
    return { kind: 'float', table };
  }
  const lookup = nodes.find((n) => (n.opType === 'Gather' || n.opType === 'GatherBlockQuantized') && ids.has(n.input?.[1] ?? ''));
  if (!lookup) return 'no token embedding (a Gather of input_ids from a weight table)';
  if (lookup.opType === 'GatherBlockQuantized') {
    return `the embedding table is a GatherBlockQuantized of ${attributeInt(lookup, 'bits') ?? 4}-bit blocks (block size ${attributeInt(lookup, 'block_size') ?? 128}); not read`;
  }
  if ((attributeInt(lookup, 'axis') ?? 0) !== 0) return `the token embedding Gather ${lookup.name ?? ''} looks up along axis ${attributeInt(lookup, 'axis')}, not rows; not read`;
  const source = lookup.input?.[0] ?? '';
  const table = initializers.get(source);
  if (table) {
    if (shapeOf(table).length !== 2) return `the embedding table ${source} has ${shapeOf(table).length} dimensions, not 2; not read`;
    if (FLOAT_TYPES.has(table.dataType ?? 0)) return { kind: 'float', table };
    if (!QUANTIZED.has(table.dataType ?? 0)) return `the embedding table ${source} is ${typeName(table.dataType)}; not read`;
    const after = nodes.filter((n) => n.input?.includes(lookup.output?.[0] ?? ''));
    if (after.length !== 1 || after[0]!.opType !== 'DequantizeLinear') return `the embedding table ${source} is ${typeName(table.dataType)} with no DequantizeLinear after its Gather; not read`;
    return dequantized(table, after[0]!, initializers, true);
  }
  const producer = nodes.find((n) => n.output?.includes(source));
  if (producer?.opType !== 'DequantizeLinear') return `the embedding table is computed (${producer ? `by ${producer.opType ?? '?'}` : 'a graph input'}), not stored as an initializer; not read`;
  const quantized = initializers.get(producer.input?.[0] ?? '');
  if (!quantized || !QUANTIZED.has(quantized.dataType ?? 0) || shapeOf(quantized).length !== 2) return `the embedding table is dequantized from ${producer.input?.[0] ?? ''}, not a 2-d int8 or uint8 initializer; not read`;
  return dequantized(quantized, producer, initializers, false);
}

/** A DequantizeLinear's scale and zero point, per tensor, or (before the Gather) per row or column. */
function dequantized(table: TensorProto, node: NodeProto, initializers: ReadonlyMap<string, TensorProto>, afterLookup: boolean): TokenEmbedding | string {
  const scale = initializers.get(node.input?.[1] ?? '');
  const zeroPoint = initializers.get(node.input?.[2] ?? '');
  if (!scale || !FLOAT_TYPES.has(scale.dataType ?? 0) || ((node.input?.[2] ?? '') !== '' && !zeroPoint)) return `the DequantizeLinear ${node.name ?? ''} of the embedding table takes a computed scale or zero point; not read`;
  if (zeroPoint && zeroPoint.dataType !== table.dataType) return `the zero point of the embedding table is ${typeName(zeroPoint.dataType)} where the table is ${typeName(table.dataType)}; not read`;
  if ((attributeInt(node, 'block_size') ?? 0) > 0) return `the embedding table is dequantized in blocks of ${attributeInt(node, 'block_size')}; not read`;
  const result = { kind: 'dequantized' as const, table, scale, ...(zeroPoint ? { zeroPoint } : {}) };
  const scales = elementCount(scale);
  if (scales === 1) return result;
  const [rows = 0, columns = 0] = shapeOf(table);
  const axis = ((attributeInt(node, 'axis') ?? 1) + 2) % 2;
  if (!afterLookup && shapeOf(scale).length === 1 && scales === (axis === 0 ? rows : columns)) return { ...result, axis };
  return `the embedding table is dequantized with ${scales} scales on axis ${attributeInt(node, 'axis') ?? 1}${afterLookup ? ' after its lookup' : ''}; not read`;
}

/** Integer values of int8/uint8 bytes. */
const integers = (bytes: Uint8Array, dataType: number): Int8Array | Uint8Array => (dataType === INT8 ? new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length) : bytes);

/** The float values of some rows of a table, read from disk row by row. */
async function readRows(embedding: TokenEmbedding, dir: string, rows: readonly number[]): Promise<Float32Array[]> {
  const { table } = embedding;
  const [, width = 0] = shapeOf(table);
  const rowBytes = (byteLength(table) ?? 0) / Math.max(1, shapeOf(table)[0] ?? 1);
  const raw = await readInitializerRanges(table, dir, rows.map((row) => [row * rowBytes, rowBytes] as const));
  if (embedding.kind === 'float') return raw.map((bytes) => toFloat32(bytes, table.dataType ?? 0));
  const scales = toFloat32(await readInitializer(embedding.scale, dir), embedding.scale.dataType ?? 0);
  const zeros = embedding.zeroPoint ? integers(await readInitializer(embedding.zeroPoint, dir), embedding.zeroPoint.dataType ?? 0) : new Uint8Array(scales.length);
  return raw.map((bytes, r) => {
    const q = integers(bytes, table.dataType ?? 0);
    // the scale and zero point of element d of row `row`: one, the row's, or the column's
    const at = (d: number): number => (embedding.axis === undefined ? 0 : embedding.axis === 0 ? rows[r]! : d);
    return Float32Array.from({ length: width }, (_, d) => (q[d]! - zeros[at(d)]!) * scales[at(d)]!);
  });
}

/**
 * ‖E[t]‖₂ for each requested token t, E the token embedding table (see `findTokenEmbedding`),
 * dequantized where it is stored as integers: only those rows are read (from external data at
 * offset + t × rowBytes). A form not read returns its reason; an id outside the table is bad input.
 */
export async function embeddingRowNorms(graphFile: string, tokenIds: readonly number[]): Promise<Float64Array | string> {
  const bytes = await readFile(graphFile).catch((error: unknown) => {
    throw badInput(`${graphFile}: cannot read this model (${(error as NodeJS.ErrnoException).code ?? String(error)}); pass the model.onnx of a checkpoint folder.`, error);
  });
  let graph: GraphProto;
  try {
    graph = decodeModel(bytes).graph ?? {};
  } catch (error) {
    throw badInput(`${graphFile}: not an ONNX model (${String(error).split('\n')[0]}); export it again.`, error);
  }
  const embedding = findTokenEmbedding(graph);
  if (typeof embedding === 'string') return embedding;
  const [rows = 0] = shapeOf(embedding.table);
  const outside = tokenIds.find((t) => !Number.isInteger(t) || t < 0 || t >= rows);
  if (outside !== undefined) throw badInput(`token id ${outside} is outside the embedding table ${embedding.table.name ?? ''} of ${graphFile} (${rows} rows); pass ids of this model's tokenizer.`);
  const unique = [...new Set(tokenIds)];
  const values = await readRows(embedding, path.dirname(graphFile), unique);
  const norms = new Map(unique.map((t, k) => [t, Math.sqrt(values[k]!.reduce((sum, v) => sum + v * v, 0))]));
  return Float64Array.from(tokenIds, (t) => norms.get(t)!);
}
