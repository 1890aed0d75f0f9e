import ort from 'onnxruntime-node';
import { runtimeFailure } from '../errors.js';
import type { Float32Tensor } from '../io/npy.js';
import { attentionGraph, type Checkpoint } from './checkpoint.js';
import { buildFeeds, padBatch } from './feeds.js';

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
