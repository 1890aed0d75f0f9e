import { readFile } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { badInput, runtimeFailure } from '../errors.js';
import { writeFileWhole } from '../io/atomic.js';
import type { Float32Tensor } from '../io/npy.js';
import { attentionGraph, type Checkpoint } from './checkpoint.js';
import { buildFeeds, padBatch } from './feeds.js';
import { entropyOutput, KEY_SETS_INPUT, massOutput, meanOutput, reduceAttentionInGraph, roundTripsWhole, type ReductionPlan } from './reduce-graph.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  threads?: number;
  device?: Device;
}

/** A loaded checkpoint that returns per-layer attention for a batch of token id sequences. */
export interface AttentionSession {
  /** For each sequence: `[layers, heads, T, T]` probabilities, padding cut away. */
  run(sequences: readonly BigInt64Array[]): Promise<Float32Tensor[]>;
  release(): Promise<void>;
}

const firstLine = (error: unknown): string => String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';

/** The one place legal-attn talks to onnxruntime. */
export async function openAttentionSession(checkpoint: Checkpoint, options: SessionOptions = {}): Promise<AttentionSession> {
  const device = options.device ?? 'cpu';
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    // The patched graph is handed over as bytes; this lets onnxruntime read the
    // weights from the checkpoint's own folder by their relative location.
    extra: { session: { model_external_initializers_file_folder_path: checkpoint.dir } },
  };
  if (options.threads) sessionOptions.intraOpNumThreads = options.threads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(await attentionGraph(checkpoint), sessionOptions);
  } catch (error) {
    throw runtimeFailure(`${checkpoint.graphFile}: onnxruntime could not load the model on ${device} (${firstLine(error)}).`, error);
  }
  const sites = checkpoint.graph.attention;
  const padId = 0n;

  return {
    async run(sequences) {
      const padded = padBatch(sequences, padId);
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, feed] of Object.entries(buildFeeds(checkpoint.graph.inputs, padded, checkpoint.graphFile))) {
        feeds[name] = new ort.Tensor(feed.type as ort.Tensor.Type, feed.data, feed.dims);
      }
      let outputs: ort.InferenceSession.ReturnType;
      try {
        outputs = await session.run(feeds, sites.map((site) => site.output));
      } catch (error) {
        throw runtimeFailure(`${checkpoint.graphFile}: the forward pass failed (${firstLine(error)}).`, error);
      }
      const layers = sites.length;
      const first = outputs[sites[0]?.output ?? ''];
      const heads = first?.dims[1] ?? 0;
      const stacks = padded.lengths.map((T) => ({ data: new Float32Array(layers * heads * T * T), dims: [layers, heads, T, T] }));
      const P = padded.length;
      sites.forEach((site, l) => {
        const tensor = outputs[site.output];
        if (!tensor || !(tensor.data instanceof Float32Array) || tensor.dims.length !== 4 || tensor.dims[1] !== heads) {
          throw runtimeFailure(`${checkpoint.graphFile}: attention output ${site.output} is not a float32 [batch, heads, query, key] tensor (${tensor?.type} ${JSON.stringify(tensor?.dims)}).`);
        }
        const source = tensor.data;
        stacks.forEach((stack, b) => {
          const T = padded.lengths[b] ?? 0;
          for (let h = 0; h < heads; h++) {
            for (let i = 0; i < T; i++) {
              const from = ((b * heads + h) * P + i) * P;
              stack.data.set(source.subarray(from, from + T), ((l * heads + h) * T + i) * T);
            }
          }
        });
        tensor.dispose();
      });
      return stacks;
    },
    async release() {
      await session.release();
    },
  };
}

/** What the in-graph reductions return for one sequence. */
export interface ReducedAttention {
  /** Attention of each query on each key set, `[layers, heads, T, K]`. */
  mass: Float32Tensor;
  /** Row entropy, `[layers, heads, T]`, when asked for. */
  entropy?: Float32Tensor;
  /** Head-averaged maps `[T, T]` of the layers asked for. */
  means: Map<number, Float32Tensor>;
}

export interface ReducedSession {
  /** `keySets[s]` is `[T_s × K]` row-major 0/1 columns, the same K for every sequence. */
  run(sequences: readonly BigInt64Array[], keySets: readonly Float32Array[], sets: number): Promise<ReducedAttention[]>;
  release(): Promise<void>;
}

/**
 * A session on the checkpoint's graph with attention reduced inside it
 * (`reduce-graph.ts`): onnxruntime returns per-query masses on the key sets, row
 * entropies and the head-averaged maps asked for, never the `[heads, T, T]` maps.
 */
export async function openReducedSession(checkpoint: Checkpoint, plan: ReductionPlan, options: SessionOptions = {}): Promise<ReducedSession> {
  if (checkpoint.graph.attentionSource !== 'softmax') {
    throw badInput(`${checkpoint.graphFile}: the model outputs its attentions itself, so they cannot be reduced inside the graph; use --maps full.`);
  }
  const key = `reduced-${plan.entropy ? 'e' : 'n'}-${plan.meanLayers.join('_') || 'none'}.onnx`;
  const cached = path.join(checkpoint.cacheDir, 'graphs', checkpoint.contentHash, key);
  let graph = await readFile(cached).catch(() => undefined);
  if (!graph) {
    const original = await readFile(checkpoint.graphFile);
    if (!roundTripsWhole(original)) {
      throw badInput(`${checkpoint.graphFile}: uses ONNX fields legal-attn cannot rewrite without loss, so measures cannot be computed inside the graph; use --maps full.`);
    }
    graph = Buffer.from(reduceAttentionInGraph(original, checkpoint.graph.attention, plan));
    await writeFileWhole(cached, graph);
  }
  const device = options.device ?? 'cpu';
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    extra: { session: { model_external_initializers_file_folder_path: checkpoint.dir } },
  };
  if (options.threads) sessionOptions.intraOpNumThreads = options.threads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(graph, sessionOptions);
  } catch (error) {
    throw runtimeFailure(`${checkpoint.graphFile}: onnxruntime could not load the reduced graph on ${device} (${firstLine(error)}).`, error);
  }
  const layers = checkpoint.graph.attention.length;
  const fetches = [
    ...Array.from({ length: layers }, (_, l) => massOutput(l)),
    ...(plan.entropy ? Array.from({ length: layers }, (_, l) => entropyOutput(l)) : []),
    ...plan.meanLayers.map(meanOutput),
  ];
  return {
    async run(sequences, keySets, sets) {
      const padded = padBatch(sequences, 0n);
      const { batch, length: P } = padded;
      const feeds: Record<string, ort.Tensor> = {};
      for (const [name, feed] of Object.entries(buildFeeds(checkpoint.graph.inputs, padded, checkpoint.graphFile))) {
        feeds[name] = new ort.Tensor(feed.type as ort.Tensor.Type, feed.data, feed.dims);
      }
      const sets3d = new Float32Array(batch * P * sets);
      keySets.forEach((columns, b) => sets3d.set(columns, b * P * sets));
      feeds[KEY_SETS_INPUT] = new ort.Tensor('float32', sets3d, [batch, P, sets]);
      let outputs: ort.InferenceSession.ReturnType;
      try {
        outputs = await session.run(feeds, fetches);
      } catch (error) {
        throw runtimeFailure(`${checkpoint.graphFile}: the forward pass failed (${firstLine(error)}).`, error);
      }
      const heads = outputs[massOutput(0)]?.dims[1] ?? 0;
      return padded.lengths.map((T, b) => {
        const mass = new Float32Array(layers * heads * T * sets);
        const entropy = plan.entropy ? new Float32Array(layers * heads * T) : undefined;
        for (let l = 0; l < layers; l++) {
          const m = outputs[massOutput(l)]!.data as Float32Array;
          const e = plan.entropy ? (outputs[entropyOutput(l)]!.data as Float32Array) : undefined;
          for (let h = 0; h < heads; h++) {
            const from = ((b * heads + h) * P) * sets;
            mass.set(m.subarray(from, from + T * sets), ((l * heads + h) * T) * sets);
            if (e && entropy) entropy.set(e.subarray((b * heads + h) * P, (b * heads + h) * P + T), (l * heads + h) * T);
          }
        }
        const means = new Map<number, Float32Tensor>();
        for (const l of plan.meanLayers) {
          const source = outputs[meanOutput(l)]!.data as Float32Array;
          const map = new Float32Array(T * T);
          for (let i = 0; i < T; i++) map.set(source.subarray((b * P + i) * P, (b * P + i) * P + T), i * T);
          means.set(l, { data: map, dims: [T, T] });
        }
        const result: ReducedAttention = { mass: { data: mass, dims: [layers, heads, T, sets] }, means };
        if (entropy) result.entropy = { data: entropy, dims: [layers, heads, T] };
        return result;
      });
    },
    async release() {
      await session.release();
    },
  };
}
