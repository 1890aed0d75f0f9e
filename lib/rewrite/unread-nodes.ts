import type { GraphProto, NodeProto } from '../onnx/proto.js';

/** A node's inputs, and those of the nodes of its subgraphs (a blocked layer's loop body reads the shared constants). */
export const inputsAtAnyDepth = (node: NodeProto): string[] => [...(node.input ?? []), ...(node.attribute ?? []).flatMap((a) => (a.g?.node ?? []).flatMap(inputsAtAnyDepth))];

/**
 * Positions of the graph's nodes that nothing reads once `removed` are gone: no kept node,
 * no node added (`read`: their inputs), no graph output. One sweep from the last node,
 * the graph being in topological order.
 */
export function unreadNodes(graph: GraphProto, removed: ReadonlySet<number>, read: ReadonlySet<string>, outputs: readonly string[]): number[] {
  const needed = new Set([...read, ...outputs, ...(graph.output ?? []).map((o) => o.name ?? '')]);
  const unread: number[] = [];
  const nodes = graph.node ?? [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    if (removed.has(k)) continue;
    const node = nodes[k]!;
    if ((node.output ?? []).some((o) => needed.has(o))) inputsAtAnyDepth(node).forEach((i) => needed.add(i));
    else unread.push(k);
  }
  return unread;
}
