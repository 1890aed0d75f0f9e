import { intAttribute, NodeList, type NodeProto } from '../onnx-build.js';
import { INT64 } from '../onnx-model.js';

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
    const total = layer.outputs
      .map((output) => sums.add('ReduceSum', [output], `${output}.sum`, [intAttribute('keepdims', 0)]))
      .reduce((acc, s, k) => (k === 0 ? s : sums.add('Add', [acc, s], `legal_attn.sum.${l}.${k - 1}`)));
    const flag = sums.add('Cast', [sums.add('IsNaN', [total], `legal_attn.sum_is_nan.${l}`)], `legal_attn.sum_flag.${l}`, [intAttribute('to', INT64)]);
    const dependency = sums.add('Mul', [flag, zero], `legal_attn.dependency.${l}`);
    after.push(sums.nodes);
    const fed = new NodeList();
    const shape = fed.add('Add', [fed.add('Shape', [next.fedInput], `legal_attn.fed_shape.${l + 1}`), dependency], `legal_attn.fed_shape_dependent.${l + 1}`);
    const name = fed.add('Reshape', [next.fedInput, shape], `legal_attn.fed.${l + 1}`);
    before.set(next.fed, fed.nodes);
    renamed.set(next.fed, new Map([[0, name]]));
  });
  return { before, after, renamed };
}
