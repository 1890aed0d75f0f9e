import { readFile } from 'node:fs/promises';
import { type Checkpoint } from '../checkpoint/checkpoint.js';
import { elementTypes } from '../onnx/element-types.js';
import { decodeModel } from '../onnx/model.js';
import { pooledStateNodes, SPAN_POOL_INPUT, spanPoolInput, stateOutput } from '../rewrite/reductions/pooled-states.js';
import { editGraph } from '../onnx/wire.js';
import { findResidualStream, type ResidualStream } from '../checkpoint/residual-stream.js';
import { createSession, forward, inPassesOfTheirOwn, spanPoolFeed, statesOfSequence, type SessionOptions } from './session.js';
import { padBatch } from './feeds.js';
import { rewrittenGraph } from '../rewrite/attention-graph.js';

/** Bump whenever `pooledStatesGraph` writes another graph. */
const STATES_GRAPH = 'states-v1.onnx';

/** The graph with each residual state pooled over the spans as an output (the full-map path's own pass; in-graph measuring pools in its reduced graph). */
export function pooledStatesGraph(modelBytes: Uint8Array, stream: ResidualStream): Uint8Array {
  const types = elementTypes(decodeModel(modelBytes).graph ?? {});
  return editGraph(modelBytes, { after: pooledStateNodes(stream, (t) => types.get(t)), inputs: [spanPoolInput()], outputs: stream.states.map((_, l) => ({ name: stateOutput(l) })) });
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
    const feed = spanPoolFeed(pools, padded);
    const outputs = await forward(session, checkpoint, padded, { [SPAN_POOL_INPUT]: feed.tensor }, fetches);
    const results = pools.map((_, b) => statesOfSequence(outputs, fetches, b, feed.rows).data);
    for (const tensor of Object.values(outputs)) tensor.dispose();
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
