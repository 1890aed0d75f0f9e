import { meanOutput, type LayerNodes } from './shared.js';

/**
 * The head-averaged map of a layer (for the report's maps): `[batch, T, T]`, or, where
 * maps are kept pooled, each query's sums over the cells of keys, `[batch, T, C]`.
 */
export function headMeanNodes(nodes: LayerNodes, p: string): string {
  const { mapCells } = nodes.shared;
  if (!mapCells) return nodes.reduce('ReduceMean', p, 1, 0, meanOutput(nodes.layer));
  return nodes.add('MatMul', [nodes.reduce('ReduceMean', p, 1, 0, nodes.name('head_mean')), mapCells], meanOutput(nodes.layer));
}
