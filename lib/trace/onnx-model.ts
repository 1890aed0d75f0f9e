import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';

export type ModelProto = onnx.IModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;

const { onnx: schema } = onnxProto;

/** Decodes `model.onnx` bytes; fields newer than onnx-proto's schema are skipped, which analysis does not need. */
export const decodeModel = (bytes: Uint8Array): ModelProto => schema.ModelProto.decode(bytes);

/**
 * Adds graph outputs to a serialized model without re-encoding it. Protobuf merges a
 * repeated embedded message field, so appending `ModelProto{graph{output: …}}` to the
 * original bytes extends `graph.output` and keeps every byte of the original (fields
 * unknown to our schema included), whatever exporter or IR version made it.
 * onnxruntime's parser merges as the spec says; protobufjs does not, so never decode
 * the patched bytes with `decodeModel`.
 */
export function appendGraphOutputs(modelBytes: Uint8Array, outputNames: readonly string[]): Uint8Array {
  const suffix = schema.ModelProto.encode({ graph: { output: outputNames.map((name) => ({ name })) } }).finish();
  const patched = new Uint8Array(modelBytes.length + suffix.length);
  patched.set(modelBytes, 0);
  patched.set(suffix, modelBytes.length);
  return patched;
}

/** ONNX TensorProto.DataType codes to onnxruntime tensor type names, for the inputs we feed. */
export const ELEMENT_TYPES: Readonly<Record<number, string>> = {
  1: 'float32',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  16: 'bfloat16',
};

export const EXTERNAL_DATA_LOCATION = schema.TensorProto.DataLocation.EXTERNAL;
