import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';

// The ONNX protobuf schema and its types, declared once for every reader and writer of graphs.
export const { onnx: schema } = onnxProto;

export type ModelProto = onnx.IModelProto;
export type GraphProto = onnx.IGraphProto;
export type NodeProto = onnx.INodeProto;
export type TensorProto = onnx.ITensorProto;
export type AttributeProto = onnx.IAttributeProto;
export type ValueInfoProto = onnx.IValueInfoProto;

// TensorProto.DataType codes legal-attn names.
export const FLOAT = 1;
export const UINT8 = 2;
export const INT8 = 3;
export const INT64 = 7;
export const FLOAT16 = 10;
export const BFLOAT16 = 16;

/** The float types whose values legal-attn reads and writes (as float32). */
export const FLOAT_TYPES: ReadonlySet<number> = new Set([FLOAT, FLOAT16, BFLOAT16]);

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

export const EXTERNAL_DATA_LOCATION = schema.TensorProto.DataLocation.EXTERNAL;
