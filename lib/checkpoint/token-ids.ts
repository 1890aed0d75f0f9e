import type { NodeProto } from '../onnx/proto.js';

// Ops that pass the ids on as they are, reshaped or retyped: exporters and optimizers put them before the lookup.
const PASS_THROUGH = new Set(['Cast', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Flatten']);

/** The token ids input and every tensor that is the ids passed on (cast to int32, reshaped to 2-d) before the embedding reads them. */
export function idTensors(nodes: readonly NodeProto[], input = 'input_ids'): Set<string> {
  const ids = new Set([input]);
  for (let grown = true; grown; ) {
    grown = false;
    for (const node of nodes) {
      const output = node.output?.[0];
      if (PASS_THROUGH.has(node.opType ?? '') && ids.has(node.input?.[0] ?? '') && output && !ids.has(output)) {
        ids.add(output);
        grown = true;
      }
    }
  }
  return ids;
}

/** onnxruntime's fused lookup: word (input 2), position and segment embeddings added, then normalised; output 2 is the sum. */
export const isEmbedLayerNormalization = (node: NodeProto): boolean => node.opType === 'EmbedLayerNormalization' && node.domain === 'com.microsoft';
