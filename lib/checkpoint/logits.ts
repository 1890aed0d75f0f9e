import { type GraphProto } from '../onnx/proto.js';

/** The graph output carrying next-token logits `[batch, T, vocab]`, and the index of the node that writes it. */
export interface Logits {
  output: string;
  position: number;
}

/**
 * The logits: the graph output named `logits` (every exporter legal-attn reads names it
 * so), else the one rank-3 output whose last dimension is the embedding table's rows.
 */
export function findLogits(graph: GraphProto, embeddingRows?: number): Logits | string {
  const outputs = graph.output ?? [];
  const vocabularyWide = outputs.filter((o) => {
    const dims = o.type?.tensorType?.shape?.dim ?? [];
    return dims.length === 3 && embeddingRows !== undefined && Number(dims[2]?.dimValue ?? 0) === embeddingRows;
  });
  const named = outputs.find((o) => o.name === 'logits') ?? (vocabularyWide.length === 1 ? vocabularyWide[0] : undefined);
  if (!named?.name) return `no logits output (none is named logits, and ${vocabularyWide.length} rank-3 outputs are as wide as the vocabulary)`;
  const position = (graph.node ?? []).findIndex((n) => (n.output ?? []).includes(named.name!));
  if (position < 0) return `the logits output ${named.name} is not written by a node`;
  return { output: named.name, position };
}
