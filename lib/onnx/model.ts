import { schema, type ModelProto } from './proto.js';
import { graphBytes, graphParts } from './wire.js';

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
