import ort from 'onnxruntime-node';
import { badInput, runtimeFailure } from '../errors.js';
import { type Checkpoint } from '../checkpoint/checkpoint.js';
import { type ResidualStream } from '../checkpoint/residual-stream.js';
import { rewrittenGraph } from '../rewrite/attention-graph.js';
import { COSINE_OUTPUT, KNOCKOUT_KEYS_INPUT, KNOCKOUT_LAYERS_INPUT, KNOCKOUT_QUERIES_INPUT, knockoutGraph, LOGPROB_OUTPUT, NEXT_IDS_INPUT } from '../rewrite/knockout-graph.js';
import { createSession, forward, type SessionOptions } from './session.js';
import { padBatch } from './feeds.js';
import { knockoutRowBytes } from './knockout-memory.js';

/** Bump whenever `knockoutGraph` writes another graph: cached knockout passes are keyed by it. */
export const KNOCKOUT_GRAPH = 'knockout-v2';

/** One row's knockout, as 0/1 vectors: query i may not read key j in layer l when all three are 1. */
export interface KnockoutMask {
  /** `[T]`. */
  keys: Float32Array;
  /** `[T]`. */
  queries: Float32Array;
  /** `[L]`. */
  layers: Float32Array;
}

/**
 * The knockout of a span (token indices): no query after it (i > max S) may attend to
 * its keys, in every layer or only in `layers`. An empty span knocks out nothing.
 */
export function spanKnockout(length: number, span: readonly number[], layerCount: number, layers: readonly number[] | 'all' = 'all'): KnockoutMask {
  const keys = new Float32Array(length);
  const queries = new Float32Array(length);
  for (const j of span) keys[j] = 1;
  if (span.length > 0) queries.fill(1, Math.max(...span) + 1);
  const selected = new Float32Array(layerCount);
  if (layers === 'all') selected.fill(1);
  else for (const l of layers) selected[l] = 1;
  return { keys, queries, layers: selected };
}

/** One sequence's knockout pass: row 0 is the baseline (nothing knocked out), row r > 0 is the r-th mask asked for. */
export interface KnockoutPass {
  rows: number;
  length: number;
  /** `[rows, T]`: log p(x_{i+1} | x_≤i) in nats at position i; NaN at the last position, which predicts no token of the text. */
  logprob: Float32Array;
  /** `[rows, T]`: cosine of each token's residual state leaving the last layer with the baseline's (1 in row 0). */
  cosine: Float32Array;
}

export interface KnockoutSession {
  /** One session run: the sequence repeated over 1 + masks.length rows. */
  run(ids: BigInt64Array, masks: readonly KnockoutMask[]): Promise<KnockoutPass>;
  readonly layers: number;
  /** Bytes one row of a run over T tokens takes at its peak, roughly (`knockoutRowBytes`). */
  rowBytes(T: number): number;
  release(): Promise<void>;
}

export interface KnockoutSessionOptions extends SessionOptions {
  /** Queries per block where each layer's attention runs as a loop over blocks (`knockoutBlockRows`); undefined: whole layers. */
  blockRows?: number | undefined;
}

/** Why a checkpoint cannot run knockout passes yet, or undefined. */
function unsupported(checkpoint: Checkpoint): string | undefined {
  // fused kernels are all read here: openCheckpoint refuses a graph with one it cannot read
  const { attentionSource, format } = checkpoint.graph;
  if (attentionSource === 'outputs') return "attention knockout needs each layer's Softmax or fused attention kernel in the graph, and this export returns its attention as outputs";
  if (format.activationScalesPerPass) return 'attention knockout batches its rows in one pass, and this export quantizes activations with scales taken over the whole pass';
  return undefined;
}

/** Refuses, in one sentence naming the graph, a checkpoint that cannot run knockout passes (checked before any model runs). */
export function checkKnockoutSupported(checkpoint: Checkpoint): void {
  const why = unsupported(checkpoint);
  if (why) throw badInput(`${checkpoint.graphFile}: ${why}; export the model with explicit attention (a Softmax per layer) and without dynamic quantization.`);
}

/** A session on the knockout graph (`rewrite/knockout-graph.ts`) of a checkpoint with decomposed or fused attention, decomposed layers in blocks where `blockRows` is set. */
export async function openKnockoutSession(checkpoint: Checkpoint, stream: ResidualStream, options: KnockoutSessionOptions = {}): Promise<KnockoutSession> {
  checkKnockoutSupported(checkpoint);
  const sites = checkpoint.graph.attention;
  const { blockRows } = options;
  const name = `${KNOCKOUT_GRAPH}${blockRows ? `-blocks-${blockRows}` : ''}.onnx`;
  const graph = await rewrittenGraph(checkpoint, name, (original) => knockoutGraph(original, sites, stream, checkpoint.graphFile, { embeddingRows: checkpoint.graph.embeddingRows, blockRows }));
  const session = await createSession(graph, checkpoint, options, 'the knockout graph');
  const L = sites.length;
  return {
    layers: L,
    rowBytes: (T) => knockoutRowBytes(checkpoint, T, blockRows),
    async run(ids, masks) {
      const T = ids.length;
      const rows = masks.length + 1;
      const all = [{ keys: new Float32Array(T), queries: new Float32Array(T), layers: new Float32Array(L) }, ...masks];
      const stacked = (part: 'keys' | 'queries' | 'layers', width: number): ort.Tensor => {
        const data = new Float32Array(rows * width);
        all.forEach((mask, r) => {
          if (mask[part].length !== width) throw new Error(`knockout mask ${r}: ${part} has ${mask[part].length} entries where ${width} are needed`);
          data.set(mask[part], r * width);
        });
        return new ort.Tensor('float32', data, [rows, width]);
      };
      const next = new BigInt64Array(rows * T);
      for (let r = 0; r < rows; r++) for (let i = 0; i < T; i++) next[r * T + i] = ids[Math.min(i + 1, T - 1)]!;
      const feeds = { [KNOCKOUT_KEYS_INPUT]: stacked('keys', T), [KNOCKOUT_QUERIES_INPUT]: stacked('queries', T), [KNOCKOUT_LAYERS_INPUT]: stacked('layers', L), [NEXT_IDS_INPUT]: new ort.Tensor('int64', next, [rows, T, 1]) };
      const outputs = await forward(session, checkpoint, padBatch(Array.from({ length: rows }, () => ids), 0n), feeds, [LOGPROB_OUTPUT, COSINE_OUTPUT]);
      const read = (name: string): Float32Array => {
        const tensor = outputs[name];
        if (!(tensor?.data instanceof Float32Array) || tensor.data.length !== rows * T) throw runtimeFailure(`${checkpoint.graphFile}: knockout output ${name} is not float32 [${rows}, ${T}] (${tensor?.type} ${JSON.stringify(tensor?.dims)}).`);
        return tensor.data.slice();
      };
      const logprob = read(LOGPROB_OUTPUT);
      const cosine = read(COSINE_OUTPUT);
      for (const tensor of Object.values(outputs)) tensor.dispose();
      for (let r = 0; r < rows; r++) logprob[r * T + T - 1] = NaN;
      return { rows, length: T, logprob, cosine };
    },
    async release() {
      await session.release();
    },
  };
}
