import protobuf from 'protobufjs/minimal.js';
import { schema, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';
import { int64Constants, lowerNodes, tensorsRead, withoutConstants } from './lower-opset.js';

// Field numbers of onnx.proto that the editor touches; every other field is copied as bytes.
const MODEL_GRAPH = 7;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const NODE_INPUT = 1;
const LENGTH_DELIMITED = 2;

/** One field of a serialized message: its number and where its bytes lie (tag included). */
interface WireField {
  field: number;
  start: number;
  end: number;
  /** Where a length-delimited field's payload lies. */
  payload?: [number, number];
}

/** The top-level fields of a serialized protobuf message, in the order they were written. */
export function wireFields(bytes: Uint8Array): WireField[] {
  const reader = protobuf.Reader.create(bytes);
  const fields: WireField[] = [];
  while (reader.pos < reader.len) {
    const start = reader.pos;
    const tag = reader.uint32();
    const wireType = tag & 7;
    if (wireType === LENGTH_DELIMITED) {
      const length = reader.uint32();
      const from = reader.pos;
      reader.skip(length);
      fields.push({ field: tag >>> 3, start, end: reader.pos, payload: [from, from + length] });
    } else {
      reader.skipType(wireType);
      fields.push({ field: tag >>> 3, start, end: reader.pos });
    }
  }
  return fields;
}

// ModelProto.opset_import and OperatorSetIdProto's fields.
const MODEL_OPSET_IMPORT = 8;
const OPSET_DOMAIN = 1;
const OPSET_VERSION = 2;

/** The ai.onnx opset a serialized model imports, read off the wire (17 where it names none). */
export function onnxOpset(modelBytes: Uint8Array): number {
  for (const f of wireFields(modelBytes)) {
    if (f.field !== MODEL_OPSET_IMPORT || !f.payload) continue;
    const entry = modelBytes.subarray(f.payload[0], f.payload[1]);
    let domain = '';
    let version = 0;
    for (const g of wireFields(entry)) {
      if (g.field === OPSET_DOMAIN && g.payload) domain = Buffer.from(entry.subarray(g.payload[0], g.payload[1])).toString('utf8');
      if (g.field === OPSET_VERSION) version = protobuf.Reader.create(entry.subarray(g.start, g.end)).skip(1).int32();
    }
    if (domain === '' || domain === 'ai.onnx') return version;
  }
  return 17;
}

/** The edit as an older opset spells its nodes (`lowerNodes`), without the constants that then go unread. */
function lowered(edit: GraphEdit, opset: number): GraphEdit {
  if (opset >= 13) return edit;
  const lists = [edit.prologue ?? [], ...(edit.before?.values() ?? []), ...(edit.after?.values() ?? [])];
  const constants = int64Constants(lists.flat(), edit.initializers);
  const lower = (nodes: readonly NodeProto[]): NodeProto[] => lowerNodes(nodes, opset, constants);
  const prologue = lower(edit.prologue ?? []);
  const before = new Map([...(edit.before ?? [])].map(([k, nodes]) => [k, lower(nodes)]));
  const after = new Map([...(edit.after ?? [])].map(([k, nodes]) => [k, lower(nodes)]));
  const read = tensorsRead([prologue, ...before.values(), ...after.values()].flat());
  for (const names of edit.renamedInputs?.values() ?? []) for (const name of names.values()) read.add(name);
  for (const output of edit.outputs ?? []) read.add(output.name ?? '');
  const unread = new Set([...constants.keys()].filter((name) => !read.has(name)));
  const drop = (nodes: readonly NodeProto[]): NodeProto[] => withoutConstants(nodes, unread);
  return {
    ...edit,
    prologue: drop(prologue),
    before: new Map([...before].map(([k, nodes]) => [k, drop(nodes)])),
    after: new Map([...after].map(([k, nodes]) => [k, drop(nodes)])),
    initializers: (edit.initializers ?? []).filter((t) => !unread.has(t.name ?? '')),
  };
}

/** A length-delimited field: tag, length, payload. */
export const delimited = (field: number, payload: Uint8Array): Uint8Array => protobuf.Writer.create().uint32((field << 3) | LENGTH_DELIMITED).bytes(payload).finish();

/** A varint field: tag, value. */
export const varintField = (field: number, value: number): Uint8Array => protobuf.Writer.create().uint32(field << 3).int64(value).finish();

/** The value of a varint field, from its bytes (tag included); enough for types and flags (the low 32 bits). */
export function varintValue(field: Uint8Array): number {
  const reader = protobuf.Reader.create(field);
  reader.uint32();
  return reader.uint32();
}

const payloadOf = (bytes: Uint8Array, field: WireField): Uint8Array => bytes.subarray(field.payload![0], field.payload![1]);

const graphFields = (modelBytes: Uint8Array): WireField[] => wireFields(modelBytes).filter((f) => f.field === MODEL_GRAPH && f.payload);

/** How many times a serialized ModelProto writes its graph field (more than once is rare, and legal). */
export const graphParts = (modelBytes: Uint8Array): number => graphFields(modelBytes).length;

/**
 * The graph of a serialized ModelProto as bytes. A message field written more than once
 * is merged, which for protobuf is the concatenation of the parts: onnxruntime reads it
 * so, and so must we.
 */
export function graphBytes(modelBytes: Uint8Array): Uint8Array {
  const parts = graphFields(modelBytes);
  return parts.length === 1 ? payloadOf(modelBytes, parts[0]!) : Buffer.concat(parts.map((f) => payloadOf(modelBytes, f)));
}

/** What to add to a graph. Nodes are named by their index in `graph.node`, as decoded. */
export interface GraphEdit {
  /** Nodes placed before the graph's first node. */
  prologue?: readonly NodeProto[];
  /** Nodes placed right before, and right after, the node of that index. */
  before?: ReadonlyMap<number, readonly NodeProto[]>;
  after?: ReadonlyMap<number, readonly NodeProto[]>;
  /** Nodes left out (their `before` and `after` nodes are still placed). */
  removed?: ReadonlySet<number>;
  /** New names for some inputs of some nodes: node index → input position → name. */
  renamedInputs?: ReadonlyMap<number, ReadonlyMap<number, string>>;
  initializers?: readonly TensorProto[];
  inputs?: readonly ValueInfoProto[];
  outputs?: readonly ValueInfoProto[];
}

/** A serialized node with some inputs renamed; every other byte as it was. */
function renameNodeInputs(node: Uint8Array, renamed: ReadonlyMap<number, string>): Uint8Array {
  let position = 0;
  return Buffer.concat(
    wireFields(node).map((f) => {
      if (f.field !== NODE_INPUT || !f.payload) return node.subarray(f.start, f.end);
      const name = renamed.get(position++);
      return name === undefined ? node.subarray(f.start, f.end) : delimited(NODE_INPUT, Buffer.from(name, 'utf8'));
    }),
  );
}

const encodedNodes = (nodes: readonly NodeProto[] | undefined): Uint8Array[] => (nodes ?? []).map((n) => delimited(GRAPH_NODE, schema.NodeProto.encode(n).finish()));

/**
 * Adds nodes, initializers, inputs and outputs to a serialized model, and renames node
 * inputs, at the level of the wire format: every field of the original, those newer
 * than our schema and those another protobuf implementation wrote its own way
 * included, is copied byte for byte. Nothing is decoded and encoded again.
 */
export function editGraph(modelBytes: Uint8Array, edit: GraphEdit): Uint8Array {
  const graph = graphBytes(modelBytes);
  edit = lowered(edit, onnxOpset(modelBytes));
  const parts: Uint8Array[] = [];
  let index = 0;
  let prologueWritten = false;
  for (const f of wireFields(graph)) {
    if (f.field !== GRAPH_NODE || !f.payload) {
      parts.push(graph.subarray(f.start, f.end));
      continue;
    }
    if (!prologueWritten) {
      parts.push(...encodedNodes(edit.prologue));
      prologueWritten = true;
    }
    parts.push(...encodedNodes(edit.before?.get(index)));
    const renamed = edit.renamedInputs?.get(index);
    if (!edit.removed?.has(index)) parts.push(renamed ? delimited(GRAPH_NODE, renameNodeInputs(payloadOf(graph, f), renamed)) : graph.subarray(f.start, f.end));
    parts.push(...encodedNodes(edit.after?.get(index)));
    index++;
  }
  if (!prologueWritten) parts.push(...encodedNodes(edit.prologue));
  for (const t of edit.initializers ?? []) parts.push(delimited(GRAPH_INITIALIZER, schema.TensorProto.encode(t).finish()));
  for (const v of edit.inputs ?? []) parts.push(delimited(GRAPH_INPUT, schema.ValueInfoProto.encode(v).finish()));
  for (const v of edit.outputs ?? []) parts.push(delimited(GRAPH_OUTPUT, schema.ValueInfoProto.encode(v).finish()));
  return withGraph(modelBytes, Buffer.concat(parts));
}

/** A serialized model with its graph replaced by `graph` (as one field, where the first part was); every other field as it was. */
export function withGraph(modelBytes: Uint8Array, graph: Uint8Array): Uint8Array {
  const newGraph = delimited(MODEL_GRAPH, graph);
  const model: Uint8Array[] = [];
  let graphWritten = false;
  for (const f of wireFields(modelBytes)) {
    if (f.field !== MODEL_GRAPH) model.push(modelBytes.subarray(f.start, f.end));
    else if (!graphWritten) {
      model.push(newGraph);
      graphWritten = true;
    }
  }
  if (!graphWritten) model.push(newGraph);
  return Buffer.concat(model);
}
