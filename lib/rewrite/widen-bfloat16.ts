import { badInput } from '../errors.js';
import { inlineBytes, toFloat32, withRawData } from '../onnx/initializers.js';
import { BFLOAT16, EXTERNAL_DATA_LOCATION, FLOAT, schema } from '../onnx/proto.js';
import { delimited, graphBytes, varintField, varintValue, wireFields, withGraph } from '../onnx/wire.js';

/**
 * A bfloat16 graph as a float32 one, for onnxruntime's CPU provider (which has no
 * bfloat16 kernels for MatMul, Add, Where, … and whose Node binding takes no bfloat16
 * inputs or outputs). Each bfloat16 initializer keeps its bytes, inline or in the
 * checkpoint's external data, under a new name, and is read through a Cast to float32
 * that takes its old name: onnxruntime folds that constant Cast when the session is
 * created, so the weights are widened in memory and nothing is written to disk. Every
 * other bfloat16 becomes float32: the types of inputs, outputs and value_info, Cast
 * targets and other dtype attributes, constant tensors, and the same in subgraphs.
 * Edited at the wire level (`onnx/wire.ts`): what is not bfloat16 is copied byte for byte.
 */
export function widenBfloat16(modelBytes: Uint8Array, graphFile: string): Uint8Array {
  return withGraph(modelBytes, widenGraph(graphBytes(modelBytes), graphFile));
}

/** The name a bfloat16 initializer (or external Constant) keeps its data under; its own name becomes the Cast's output. */
export const keptName = (name: string): string => `${name}.bfloat16`;

// Field numbers of onnx.proto read or changed here; every other field is copied as bytes.
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const GRAPH_VALUE_INFO = 13;
const NODE_OUTPUT = 2;
const NODE_NAME = 3;
const NODE_OP_TYPE = 4;
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_INT = 3;
const ATTRIBUTE_TENSOR = 5;
const ATTRIBUTE_GRAPH = 6;
const ATTRIBUTE_TENSORS = 10;
const ATTRIBUTE_GRAPHS = 11;
const ATTRIBUTE_TYPE = 14;
const ATTRIBUTE_TYPES = 15;
const TENSOR_DATA_TYPE = 2;
const TENSOR_NAME = 8;
const TENSOR_DATA_LOCATION = 14;
const VALUE_INFO_NAME = 1;
const VALUE_INFO_TYPE = 2;
// TypeProto's kinds: a tensor's (and a sparse tensor's) element type is its field 1;
// sequences and optionals hold a TypeProto in field 1, maps their values' in field 2.
const TYPE_TENSOR = 1;
const TYPE_SEQUENCE = 4;
const TYPE_MAP = 5;
const TYPE_SPARSE_TENSOR = 8;
const TYPE_OPTIONAL = 9;
const ELEMENT_TYPE = 1;
const MAP_VALUE_TYPE = 2;

// Int attributes that name an element type: Cast's `to`, and `dtype` (EyeLike, RandomNormal, Bernoulli, …).
const DTYPE_ATTRIBUTE = /^(to|.*dtype)$/i;

type Field = ReturnType<typeof wireFields>[number];

/**
 * A message with some fields replaced: `change` returns a field's new bytes (tags
 * included; none drops it), or undefined to keep it. `bytes` itself where nothing changed.
 */
function mapFields(bytes: Uint8Array, change: (field: Field, payload: Uint8Array, whole: Uint8Array) => Uint8Array[] | undefined): Uint8Array {
  let changed = false;
  const parts = wireFields(bytes).flatMap((f) => {
    const whole = bytes.subarray(f.start, f.end);
    const replaced = change(f, f.payload ? bytes.subarray(f.payload[0], f.payload[1]) : whole, whole);
    if (replaced === undefined) return [whole];
    changed = true;
    return replaced;
  });
  return changed ? Buffer.concat(parts) : bytes;
}

/** A nested message field passed through `widen`: undefined (kept) where it did not change. */
function nested(field: number, payload: Uint8Array, widen: (message: Uint8Array) => Uint8Array): Uint8Array[] | undefined {
  const widened = widen(payload);
  return widened === payload ? undefined : [delimited(field, widened)];
}

const text = (payload: Uint8Array): string => new TextDecoder().decode(payload);

/** The string of a message's first field of that number ('' where it has none). */
function stringOf(bytes: Uint8Array, field: number): string {
  const f = wireFields(bytes).find((x) => x.field === field && x.payload);
  return f ? text(bytes.subarray(f.payload![0], f.payload![1])) : '';
}

/** Name, element type and whether its data is external, read off a serialized TensorProto. */
function tensorFacts(tensor: Uint8Array): { name: string; dataType: number; external: boolean } {
  const facts = { name: '', dataType: 0, external: false };
  for (const f of wireFields(tensor)) {
    const whole = tensor.subarray(f.start, f.end);
    if (f.field === TENSOR_NAME && f.payload) facts.name = text(tensor.subarray(f.payload[0], f.payload[1]));
    else if (f.field === TENSOR_DATA_TYPE && !f.payload) facts.dataType = varintValue(whole);
    else if (f.field === TENSOR_DATA_LOCATION && !f.payload) facts.external = varintValue(whole) === Number(EXTERNAL_DATA_LOCATION);
  }
  return facts;
}

const castNode = (input: string, output: string): Uint8Array =>
  schema.NodeProto.encode({ opType: 'Cast', input: [input], output: [output], name: `legal_attn/widen/${output}`, attribute: [{ name: 'to', i: FLOAT, type: schema.AttributeProto.AttributeType.INT }] }).finish();

/** A serialized message with its first string field of that number set to `value`. */
function withString(bytes: Uint8Array, field: number, value: string): Uint8Array {
  let done = false;
  return mapFields(bytes, (f) => {
    if (f.field !== field || done) return undefined;
    done = true;
    return [delimited(field, Buffer.from(value, 'utf8'))];
  });
}

/** A tensor or sparse tensor type's element type, bfloat16 made float32. */
const widenElementType = (type: Uint8Array): Uint8Array =>
  mapFields(type, (f, _, whole) => (f.field === ELEMENT_TYPE && !f.payload && varintValue(whole) === BFLOAT16 ? [varintField(ELEMENT_TYPE, FLOAT)] : undefined));

/** A TypeProto with bfloat16 made float32, inside sequences, maps and optionals too. */
function widenType(type: Uint8Array): Uint8Array {
  return mapFields(type, (f, payload) => {
    if (!f.payload) return undefined;
    if (f.field === TYPE_TENSOR || f.field === TYPE_SPARSE_TENSOR) return nested(f.field, payload, widenElementType);
    const inner = f.field === TYPE_SEQUENCE || f.field === TYPE_OPTIONAL ? ELEMENT_TYPE : f.field === TYPE_MAP ? MAP_VALUE_TYPE : undefined;
    if (inner === undefined) return undefined;
    return nested(f.field, payload, (kind) => mapFields(kind, (g, p) => (g.field === inner && g.payload ? nested(inner, p, widenType) : undefined)));
  });
}

const widenValueInfo = (valueInfo: Uint8Array): Uint8Array => mapFields(valueInfo, (f, payload) => (f.field === VALUE_INFO_TYPE && f.payload ? nested(f.field, payload, widenType) : undefined));

/** An inline bfloat16 tensor (a Constant's value, ConstantOfShape's) as float32 raw_data; other tensors as they are. */
function widenTensor(tensor: Uint8Array, where: string): Uint8Array {
  const facts = tensorFacts(tensor);
  if (facts.dataType !== BFLOAT16) return tensor;
  if (facts.external) throw badInput(`${where}: a bfloat16 tensor attribute stored in external data, which legal-attn cannot widen to float32 for the CPU; run with --device cuda, or use a float16 or float32 export.`);
  const bits = inlineBytes(schema.TensorProto.decode(tensor)) ?? new Uint8Array(0);
  const floats = toFloat32(bits, BFLOAT16);
  const data = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  return mapFields(withRawData(tensor, data), (f) => (f.field === TENSOR_DATA_TYPE && !f.payload ? [varintField(TENSOR_DATA_TYPE, FLOAT)] : undefined));
}

/** An attribute with bfloat16 made float32: dtype values, tensors, types, and subgraphs. */
function widenAttribute(attribute: Uint8Array, where: string): Uint8Array {
  const name = stringOf(attribute, ATTRIBUTE_NAME);
  return mapFields(attribute, (f, payload, whole) => {
    if (f.field === ATTRIBUTE_INT && !f.payload) return DTYPE_ATTRIBUTE.test(name) && varintValue(whole) === BFLOAT16 ? [varintField(ATTRIBUTE_INT, FLOAT)] : undefined;
    if (!f.payload) return undefined;
    if (f.field === ATTRIBUTE_TENSOR || f.field === ATTRIBUTE_TENSORS) return nested(f.field, payload, (t) => widenTensor(t, `${where} (attribute ${name})`));
    if (f.field === ATTRIBUTE_GRAPH || f.field === ATTRIBUTE_GRAPHS) return nested(f.field, payload, (g) => widenGraph(g, where));
    if (f.field === ATTRIBUTE_TYPE || f.field === ATTRIBUTE_TYPES) return nested(f.field, payload, widenType);
    return undefined;
  });
}

/** A Constant whose value is bfloat16 in external data: its output renamed, for a Cast to read under the old name. */
function externalConstant(node: Uint8Array): string | undefined {
  if (stringOf(node, NODE_OP_TYPE) !== 'Constant') return undefined;
  for (const f of wireFields(node)) {
    if (f.field !== NODE_ATTRIBUTE || !f.payload) continue;
    const value = wireFields(node.subarray(f.payload[0], f.payload[1])).find((a) => a.field === ATTRIBUTE_TENSOR && a.payload);
    if (!value) continue;
    const facts = tensorFacts(node.subarray(f.payload[0] + value.payload![0], f.payload[0] + value.payload![1]));
    if (facts.dataType === BFLOAT16 && facts.external) return stringOf(node, NODE_OUTPUT);
  }
  return undefined;
}

/** A node as the graph's node fields: widened, or (an external bfloat16 Constant) kept and read through a Cast. */
function widenNode(node: Uint8Array, graphFile: string): Uint8Array[] {
  const constant = externalConstant(node);
  if (constant !== undefined) return [withString(node, NODE_OUTPUT, keptName(constant)), castNode(keptName(constant), constant)];
  const where = `${graphFile}: node ${stringOf(node, NODE_NAME) || stringOf(node, NODE_OP_TYPE)}`;
  return [mapFields(node, (f, payload) => (f.field === NODE_ATTRIBUTE && f.payload ? nested(f.field, payload, (a) => widenAttribute(a, where)) : undefined))];
}

/**
 * A graph (the main one, or a subgraph) widened: its bfloat16 initializers renamed and
 * read through Casts placed before its first node, every other bfloat16 made float32.
 */
function widenGraph(graph: Uint8Array, graphFile: string): Uint8Array {
  const fields = wireFields(graph);
  const payloadOf = (f: Field): Uint8Array => graph.subarray(f.payload![0], f.payload![1]);
  const kept = new Set<string>();
  for (const f of fields) {
    if (f.field !== GRAPH_INITIALIZER || !f.payload) continue;
    const facts = tensorFacts(payloadOf(f));
    if (facts.dataType === BFLOAT16) kept.add(facts.name);
  }
  const casts = [...kept].map((name) => delimited(GRAPH_NODE, castNode(keptName(name), name)));
  let castsPlaced = false;
  const widened = mapFields(graph, (f, payload) => {
    if (!f.payload) return undefined;
    switch (f.field) {
      case GRAPH_NODE: {
        const nodes = widenNode(payload, graphFile);
        const prologue = castsPlaced ? [] : casts;
        castsPlaced = true;
        return prologue.length === 0 && nodes.length === 1 && nodes[0] === payload ? undefined : [...prologue, ...nodes.map((n) => delimited(GRAPH_NODE, n))];
      }
      case GRAPH_INITIALIZER: {
        const { name } = tensorFacts(payload);
        return kept.has(name) ? [delimited(f.field, withString(payload, TENSOR_NAME, keptName(name)))] : undefined;
      }
      // an input that only gives its initializer's default would now be fed nothing: dropped
      case GRAPH_INPUT:
        return kept.has(stringOf(payload, VALUE_INFO_NAME)) ? [] : nested(f.field, payload, widenValueInfo);
      case GRAPH_OUTPUT:
      case GRAPH_VALUE_INFO:
        return nested(f.field, payload, widenValueInfo);
      default:
        return undefined;
    }
  });
  return castsPlaced || casts.length === 0 ? widened : Buffer.concat([widened, ...casts]);
}
