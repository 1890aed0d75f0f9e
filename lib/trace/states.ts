import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { runtimeFailure } from '../errors.js';
import { rewrittenGraph, type Checkpoint } from './checkpoint.js';
import { elementTypes } from './element-types.js';
import { intAttribute, type NodeProto } from './onnx-build.js';
import { decodeModel, FLOAT32 } from './onnx-model.js';
import { editGraph } from './onnx-wire.js';
import { findResidualStream, type ResidualStream } from './residual-stream.js';
import { createSession, forward, inPassesOfTheirOwn, type SessionOptions } from './session.js';
import { padBatch } from './feeds.js';

/** `[batch, S, T]`: row s holds the weights of span s's tokens (1/width on its tokens), so one MatMul pools every span. */
export const SPAN_POOL_INPUT = 'legal_attn.span_pool';
export const stateOutput = (l: number): string => `legal_attn.pooled_state.${l}`;
/** Bump whenever `pooledStatesGraph` writes another graph. */
const STATES_GRAPH = 'states-v1.onnx';

/**
 * The graph with, after each residual state, its mean over each span's tokens
 * `[batch, S, hidden]` in float32 as an output: the measures need span states, not the
 * `[T, hidden]` stream of every layer, which for a 7B model is the size of its attention.
 */
export function pooledStatesGraph(modelBytes: Uint8Array, stream: ResidualStream): Uint8Array {
  const graph = decodeModel(modelBytes).graph ?? {};
  const types = elementTypes(graph);
  const after = new Map<number, NodeProto[]>();
  stream.states.forEach((state, l) => {
    const nodes: NodeProto[] = [];
    let x = state;
    if ((types.get(state) ?? 1) !== FLOAT32) {
      x = `legal_attn.state_f32.${l}`;
      nodes.push({ opType: 'Cast', input: [state], output: [x], name: `legal_attn/state_cast_${l}`, attribute: [intAttribute('to', FLOAT32)] });
    }
    nodes.push({ opType: 'MatMul', input: [SPAN_POOL_INPUT, x], output: [stateOutput(l)], name: `legal_attn/pooled_state_${l}` });
    const position = stream.positions[l]!;
    after.set(position, [...(after.get(position) ?? []), ...nodes]);
  });
  const pool = { name: SPAN_POOL_INPUT, type: { tensorType: { elemType: FLOAT32, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'spans' }, { dimParam: 'sequence' }] } } } };
  return editGraph(modelBytes, { after, inputs: [pool], outputs: stream.states.map((_, l) => ({ name: stateOutput(l) })) });
}

/** Where the checkpoint's residual stream is, or why it cannot be read. */
export async function residualStreamOf(checkpoint: Checkpoint): Promise<ResidualStream | string> {
  const model = decodeModel(await readFile(checkpoint.graphFile));
  return findResidualStream(model.graph ?? {}, checkpoint.graph.attention.length);
}

export interface StatesSession {
  /** Per sequence, `[states, S, hidden]`: the pooled residual state of each of its S spans, entering each layer and after the last. */
  run(sequences: readonly BigInt64Array[], pools: readonly Float32Array[]): Promise<Float32Array[]>;
  readonly states: number;
  release(): Promise<void>;
}

/** A session returning pooled residual states; `pools[b]` is `[S, T]` for sequence b, the same S in one call. */
export async function openStatesSession(checkpoint: Checkpoint, stream: ResidualStream, options: SessionOptions = {}): Promise<StatesSession> {
  const graph = await rewrittenGraph(checkpoint, STATES_GRAPH, (original) => pooledStatesGraph(original, stream));
  const session = await createSession(graph, checkpoint, options, 'the graph with its residual states');
  const L = stream.states.length;
  const fetches = stream.states.map((_, l) => stateOutput(l));
  const runPass = async (sequences: readonly BigInt64Array[], pools: readonly Float32Array[]): Promise<Float32Array[]> => {
    const padded = padBatch(sequences, 0n);
    const { batch, length: P } = padded;
    const S = (pools[0]?.length ?? 0) / (sequences[0]?.length || 1);
    const pool = new Float32Array(batch * S * P);
    pools.forEach((rows, b) => {
      const T = padded.lengths[b]!;
      for (let s = 0; s < S; s++) pool.set(rows.subarray(s * T, (s + 1) * T), (b * S + s) * P);
    });
    const outputs = await forward(session, checkpoint, padded, { [SPAN_POOL_INPUT]: new ort.Tensor('float32', pool, [batch, S, P]) }, fetches);
    const hidden = outputs[fetches[0]!]?.dims[2] ?? 0;
    const results = pools.map(() => new Float32Array(L * S * hidden));
    fetches.forEach((name, l) => {
      const tensor = outputs[name];
      if (!tensor || !(tensor.data instanceof Float32Array)) throw runtimeFailure(`${checkpoint.graphFile}: pooled state ${name} is not float32.`);
      results.forEach((into, b) => into.set((tensor.data as Float32Array).subarray(b * S * hidden, (b + 1) * S * hidden), l * S * hidden));
      tensor.dispose();
    });
    return results;
  };
  return {
    run: (sequences, pools) => inPassesOfTheirOwn(checkpoint, sequences, pools, runPass),
    states: L,
    async release() {
      await session.release();
    },
  };
}
