import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { graphBytes, graphParts } from './onnx-wire.js';

export type ModelProto = onnx.IModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;
export type TensorProto = onnx.ITensorProto;

const { onnx: schema } = onnxProto;

/**
 * Decodes `model.onnx` bytes for analysis; fields newer than onnx-proto's schema are
 * skipped, which analysis does not need. Rewrites never re-encode what this returns:
 * they edit the original bytes (`onnx-wire.ts`). A graph written in several parts is
 * merged as protobuf says (protobufjs would keep only the last part).
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const model = schema.ModelProto.decode(bytes);
  if (graphParts(bytes) > 1) model.graph = schema.GraphProto.decode(graphBytes(bytes));
  return model;
}

/** ONNX TensorProto.DataType codes to onnxruntime tensor type names. */
export const ELEMENT_TYPES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  16: 'bfloat16',
  21: 'uint4',
  22: 'int4',
};

export const FLOAT32 = 1;
export const INT64 = 7;

export const EXTERNAL_DATA_LOCATION = schema.TensorProto.DataLocation.EXTERNAL;
