import { intAttribute, NodeList } from '../../onnx/build.js';
import { type NodeProto, INT64 } from '../../onnx/proto.js';

/** Where the next layer's query·key product reads a dependency on this layer's reductions. */
export interface ScheduledLayer {
  /** Every output of the layer's reductions. */
  outputs: readonly string[];
  /** The node of the next layer that is fed the dependency (its query·key product, or its Softmax). */
  fed: number;
  /** That node's first input (the small query tensor). */
  fedInput: string;
}

/**
 * Nodes that make onnxruntime run each layer's reductions, and free its probabilities,
 * before the next layer, instead of keeping every layer's probabilities alive to the
 * end: the next layer's query tensor becomes Reshape(q, Shape(q) + d), with d an int64
 * 0 computed from the sum of the reductions (0 whatever they hold: padded rows may give
 * ±∞ or NaN). No value changes, nothing is copied, and any element type is fed
 * (half precision, quantized).
 */
export function scheduleEarly(layers: readonly ScheduledLayer[], zero: string): { before: Map<number, NodeProto[]>; after: NodeProto[][]; renamed: Map<number, Map<number, string>> } {
  const before = new Map<number, NodeProto[]>();
  const renamed = new Map<number, Map<number, string>>();
  const after: NodeProto[][] = [];
  layers.forEach((layer, l) => {
    const next = layers[l + 1];
    if (!next?.fedInput) {
      after.push([]);
      return;
    }
    const sums = new NodeList();
    const dependency = zeroAfter(sums, layer.outputs, zero, `${l}`);
    after.push(sums.nodes);
    const fed = new NodeList();
    const shape = fed.add('Add', [fed.add('Shape', [next.fedInput], `legal_attn.fed_shape.${l + 1}`), dependency], `legal_attn.fed_shape_dependent.${l + 1}`);
    const name = fed.add('Reshape', [next.fedInput, shape], `legal_attn.fed.${l + 1}`);
    before.set(next.fed, fed.nodes);
    renamed.set(next.fed, new Map([[0, name]]));
  });
  return { before, after, renamed };
}

/**
 * An int64 0 that onnxruntime can only compute once every tensor of `outputs` is: the
 * sum of their sums, tested for NaN (0 whatever they hold: padded rows may give ±∞ or
 * NaN), times 0. Added to a shape or a count, it orders work without changing a value.
 */
export function zeroAfter(nodes: NodeList, outputs: readonly string[], zero: string, what: string): string {
  const total = outputs
    .map((output) => nodes.add('ReduceSum', [output], `${output}.sum`, [intAttribute('keepdims', 0)]))
    .reduce((acc, s, k) => (k === 0 ? s : nodes.add('Add', [acc, s], `legal_attn.sum.${what}.${k - 1}`)));
  const flag = nodes.add('Cast', [nodes.add('IsNaN', [total], `legal_attn.sum_is_nan.${what}`)], `legal_attn.sum_flag.${what}`, [intAttribute('to', INT64)]);
  return nodes.add('Mul', [flag, zero], `legal_attn.dependency.${what}`);
}
