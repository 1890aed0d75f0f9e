import { floatInput, intAttribute } from '../../onnx/build.js';
import type { ResidualStream } from '../../checkpoint/residual-stream.js';
import { type NodeProto, type ValueInfoProto, FLOAT } from '../../onnx/proto.js';

/** `[batch, S, T]`: row s holds the weights of span s's tokens (1/width on its tokens), so one MatMul pools every span. */
export const SPAN_POOL_INPUT = 'legal_attn.span_pool';
export const stateOutput = (l: number): string => `legal_attn.pooled_state.${l}`;
export const spanPoolInput = (): ValueInfoProto => floatInput(SPAN_POOL_INPUT, ['batch', 'spans', 'seq']);

/**
 * Residual state l as a float32 `[batch, T, hidden]` tensor: the nodes that make it (the
 * sum a fused kernel did not return, a Cast from half precision), placed after
 * `stream.positions[l]`, and the tensor's name.
 */
export function stateTensorNodes(stream: ResidualStream, l: number, typeOf: (tensor: string) => number | undefined): { nodes: NodeProto[]; tensor: string } {
  const state = stream.states[l]!;
  const nodes: NodeProto[] = [];
  // a state a fused kernel added up without returning it is added here, beside it
  const sum = stream.sums[l];
  // input + skip (+ bias), one Add at a time
  if (sum) {
    let partial = sum[0]!;
    sum.slice(1).forEach((term, k) => {
      const output = k === sum.length - 2 ? state : `${state}.partial_${k}`;
      nodes.push({ opType: 'Add', input: [partial, term], output: [output], name: `legal_attn/residual_sum_${l}${k > 0 ? `_${k}` : ''}` });
      partial = output;
    });
  }
  if ((typeOf(sum?.[0] ?? state) ?? FLOAT) === FLOAT) return { nodes, tensor: state };
  const tensor = `legal_attn.state_f32.${l}`;
  nodes.push({ opType: 'Cast', input: [state], output: [tensor], name: `legal_attn/state_cast_${l}`, attribute: [intAttribute('to', FLOAT)] });
  return { nodes, tensor };
}

/**
 * After each residual state, its mean over each span's tokens `[batch, S, hidden]` in
 * float32: the measures need span states, not the `[T, hidden]` stream of every layer,
 * which for a 7B model at 32k tokens is 4 GB. Keyed by the index of the node after which they go.
 */
export function pooledStateNodes(stream: ResidualStream, typeOf: (tensor: string) => number | undefined): Map<number, NodeProto[]> {
  const after = new Map<number, NodeProto[]>();
  stream.states.forEach((_, l) => {
    const { nodes, tensor } = stateTensorNodes(stream, l, typeOf);
    nodes.push({ opType: 'MatMul', input: [SPAN_POOL_INPUT, tensor], output: [stateOutput(l)], name: `legal_attn/pooled_state_${l}` });
    const position = stream.positions[l]!;
    after.set(position, [...(after.get(position) ?? []), ...nodes]);
  });
  return after;
}
