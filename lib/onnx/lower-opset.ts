import { intsAttribute } from './build.js';
import { INT64, type NodeProto, type TensorProto } from './proto.js';

// Opset 13 moved these ops' axes from an attribute to an input.
const AXES_INPUT_FROM_13 = new Set(['Unsqueeze', 'Squeeze', 'ReduceSum']);

/**
 * legal-attn writes its nodes for opset 13 and later; an older graph (onnxruntime's
 * optimizer still writes opset 11) takes them as that opset spells them: constant axes
 * as an attribute, `a ≤ b` as `not (a > b)`. Loop bodies are lowered alike.
 */
export function lowerNodes(nodes: readonly NodeProto[], opset: number, constants: ReadonlyMap<string, number[]>): NodeProto[] {
  if (opset >= 13) return [...nodes];
  return nodes.flatMap((node): NodeProto[] => {
    const op = node.opType ?? '';
    const withBodies = { ...node, attribute: (node.attribute ?? []).map((a) => (a.g ? { ...a, g: { ...a.g, node: lowerNodes(a.g.node ?? [], opset, constants) } } : a)) };
    const axes = node.input?.[1];
    if (AXES_INPUT_FROM_13.has(op) && axes) {
      const values = constants.get(axes);
      if (!values) throw new Error(`lowerNodes: ${op} ${node.name ?? ''} takes computed axes ${axes}, which opset ${opset} cannot`);
      return [{ ...withBodies, input: [node.input![0]!], attribute: [...withBodies.attribute, intsAttribute('axes', values)] }];
    }
    if (op === 'LessOrEqual' && opset < 12) {
      const greater = `${node.output![0]!}.greater`;
      return [
        { opType: 'Greater', input: node.input ?? [], output: [greater], name: `${node.name ?? ''}.greater` },
        { opType: 'Not', input: [greater], output: node.output ?? [], name: node.name ?? '' },
      ];
    }
    return [withBodies];
  });
}

/** The int64 constants among some nodes (Constant nodes, their bodies included) and initializers, by name. */
export function int64Constants(nodes: readonly NodeProto[], initializers: readonly TensorProto[] = []): Map<string, number[]> {
  const found = new Map<string, number[]>();
  const take = (name: string, tensor: TensorProto | null | undefined): void => {
    if (tensor?.dataType === INT64 && tensor.int64Data) found.set(name, tensor.int64Data.map(Number));
  };
  for (const t of initializers) take(t.name ?? '', t);
  const visit = (list: readonly NodeProto[]): void => {
    for (const node of list) {
      if (node.opType === 'Constant') take(node.output?.[0] ?? '', node.attribute?.find((a) => a.name === 'value')?.t);
      for (const a of node.attribute ?? []) if (a.g) visit(a.g.node ?? []);
    }
  };
  visit(nodes);
  return found;
}

/** Every tensor some nodes read, their bodies' nodes included. */
export function tensorsRead(nodes: readonly NodeProto[]): Set<string> {
  const read = new Set<string>();
  const visit = (list: readonly NodeProto[]): void => {
    for (const node of list) {
      for (const input of node.input ?? []) read.add(input);
      for (const a of node.attribute ?? []) if (a.g) visit(a.g.node ?? []);
    }
  };
  visit(nodes);
  return read;
}

/** Drops the Constant nodes (bodies included) among `names` that nothing reads: lowered axes, which onnxruntime would warn of. */
export function withoutConstants(nodes: readonly NodeProto[], unread: ReadonlySet<string>): NodeProto[] {
  return nodes
    .filter((node) => !(node.opType === 'Constant' && unread.has(node.output?.[0] ?? '')))
    .map((node) => (node.attribute?.some((a) => a.g) ? { ...node, attribute: node.attribute.map((a) => (a.g ? { ...a, g: { ...a.g, node: withoutConstants(a.g.node ?? [], unread) } } : a)) } : node));
}
