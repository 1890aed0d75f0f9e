import { FLOAT, INT64, schema, type AttributeProto, type NodeProto, type TensorProto, type ValueInfoProto } from './proto.js';

// What legal-attn writes into ONNX graphs (the reductions, synth's checkpoints), built from plain protobuf objects.

export const intAttribute = (name: string, value: number): AttributeProto => ({ name, i: value, type: schema.AttributeProto.AttributeType.INT });
export const intsAttribute = (name: string, values: number[]): AttributeProto => ({ name, ints: values, type: schema.AttributeProto.AttributeType.INTS });

/** A small constant tensor, its values inline. */
export const constantTensor = (name: string, values: number[], dims: number[], type: 'float' | 'int64'): TensorProto =>
  type === 'float' ? { name, dims, dataType: FLOAT, floatData: values } : { name, dims, dataType: INT64, int64Data: values };

/** A float32 graph input with named (dynamic) dimensions. */
export const floatInput = (name: string, dims: string[]): ValueInfoProto => ({ name, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((dimParam) => ({ dimParam })) } } } });

/** Nodes in the order they are added, each named after its output. */
export class NodeList {
  readonly nodes: NodeProto[] = [];

  constructor(private readonly prefix = 'legal_attn/') {}

  /** Adds a Constant node writing `output` (a constant the graph computes with inside a subgraph, where initializers are not added). */
  constant(output: string, values: number[], dims: number[], type: 'float' | 'int64'): string {
    return this.add('Constant', [], output, [{ name: 'value', t: constantTensor('', values, dims, type), type: schema.AttributeProto.AttributeType.TENSOR }]);
  }

  /** Adds `op(inputs)` writing `output`, and returns the output's name. */
  add(op: string, inputs: string[], output: string, attributes: AttributeProto[] = [], domain = ''): string {
    this.nodes.push({ opType: op, input: inputs, output: [output], attribute: attributes, name: `${this.prefix}${output}`, ...(domain ? { domain } : {}) });
    return output;
  }
}
