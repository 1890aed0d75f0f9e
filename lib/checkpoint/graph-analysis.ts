import type { FusedAttention } from './fused-attention.js';

/** Where one layer's attention probabilities come out of the graph. */
export interface AttentionSite {
  /** Position among the layers, in graph order (0 = closest to the embeddings). */
  layer: number;
  /** A human label taken from the node name when it has a layer number, else `#layer`. */
  label: string;
  /** The node producing the probabilities (a Softmax), or '' when the model outputs them itself. */
  node: string;
  /** The tensor holding `[batch, heads, query, key]` probabilities. */
  output: string;
  /** Index in `graph.node` of the node that produces `output` (where a rewrite places what reads it). */
  position: number;
  /** The output of the query·key product the Softmax's scores come from (found by structure). */
  product?: string;
  /** Element type of the probabilities (`float32`, `float16`, `bfloat16`), where the graph tells. */
  type: string;
  /** Set when attention is fused into one kernel: `output` is then P as legal-attn computes it beside the node. */
  fused?: FusedAttention;
}

export interface GraphInput {
  name: string;
  type: string;
  dims: Array<number | string>;
}

export interface GraphAnalysis {
  irVersion: number;
  producer: string;
  opsets: Array<{ domain: string; version: number }>;
  nodeCount: number;
  inputs: GraphInput[];
  outputs: string[];
  /** `softmax`: found by structure and exposed by patching; `outputs`: the model outputs attentions already; `fused`: computed from fused kernels' queries and keys. */
  attentionSource: 'softmax' | 'outputs' | 'fused';
  attention: AttentionSite[];
  /** Fused attention operators, which hide the probabilities inside one kernel; `unread` says why legal-attn cannot compute them. */
  fusedAttention: Array<{ node: string; op: string; unread?: string }>;
  /** External data files named by the initializers, relative to the graph's folder. */
  externalData: string[];
  /** Rows of the token embedding table, when it can be read off the graph. */
  embeddingRows?: number;
  /** Precision, quantization and weights layout. */
  format: ExportFormat;
  /** Softmax nodes inside If, Loop or Scan subgraphs (a merged decoder keeps its attention there). */
  subgraphSoftmax: number;
  /** Per attention site, its values and W_O for the value-weighted lens, or why they cannot be read per head. */
  valueProjections?: ValueProjectionRead[];
}

/** How a checkpoint was exported: what `inspect` says of it and what the tracer adapts to. */
export interface ExportFormat {
  /** The floating-point type of most float weights (`float32`, `float16`, `bfloat16`). */
  precision: string;
  /** The type of the attention probabilities, and how they relate to the precision. */
  attention: string;
  /** The quantization schemes found, or `none`. */
  quantization: string;
  /** Where the weights are: inline, one external file, one per tensor. */
  weightsLayout: string;
  /**
   * Activations quantized with a scale taken over the whole input (DynamicQuantizeLinear):
   * a sequence's result then depends on the batch it runs in, so each needs a pass of its own.
   */
  activationScalesPerPass: boolean;
  /** Bytes of the weights (every initializer's data) as stored. */
  weightBytes: number;
  /** Bytes of the bfloat16 weights among them: the CPU widens them to float32, twice as large (`rewrite/widen-bfloat16.ts`). */
  bfloat16Bytes: number;
}

/** Where one layer's value vectors and its output projection W_O are, for the value-weighted lens. */
export interface ValueProjection {
  /**
   * The value rows the probabilities multiply: decomposed, `[batch, heads, T, d]` (GQA groups
   * already repeated); fused, the kernel's value input (its layout that of the keys), or ''
   * where q, k and v are packed or projected inside the kernel.
   */
  values: string;
  /** W_O, `[heads·d, hidden]` (or `[hidden, heads·d]` where `transposed`), an initializer: rows h·d … (h+1)·d are head h's W_O^h. */
  weight: string;
  transposed: boolean;
}

/** A layer's W_O as read, or the one-line reason it cannot be read per head. */
export type ValueProjectionRead = ValueProjection | { unread: string };
