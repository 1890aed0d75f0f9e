import { meanOutput, type LayerNodes } from './shared.js';

/** The head-averaged map `[batch, T, T]` of a layer (for the report's maps). */
export const headMean = (nodes: LayerNodes, p: string): string => nodes.reduce('ReduceMean', p, 1, 0, meanOutput(nodes.layer));
