import { blockedLoop, stretchOnBlock, type AttentionStretch } from './blocked-attention.js';
import { FLOAT, type GraphProto, type NodeProto } from '../onnx/proto.js';

/** What the knockout graph knows of the model around a layer. */
export interface KnockoutGraphFacts {
  graph: GraphProto;
  rankOf: (tensor: string) => number | undefined;
  typeOf: (tensor: string) => number | undefined;
  /** The type's lowest finite value, as a scalar tensor of that type. */
  lowest: (type: number) => string;
}

/** One layer's knockout: bool `selected` `[rows, 1, 1, T]` (the row's keys where the layer is the row's), bool `queries` `[rows, 1, T, 1]`. */
export interface LayerKnockout {
  layer: number;
  /** T, an int64 scalar. */
  length: string;
  blockRows: number;
  selected: string;
  queries: string;
}

/**
 * A decomposed layer's attention with the knockout, as a loop over blocks of queries
 * (`blockedLoop`): the model's stretch on the block's rows, the blocked pairs' scores made
 * the lowest value between the score path and the Softmax, as in whole layers. The block's
 * blocked pairs `[rows, 1, B, T]` are the And of the keys (height 1, read whole) and the
 * block's rows of the query column, so no `[rows, 1, T, T]` mask is made. The loop gives
 * only the context, under the name the product with the values gave it.
 */
export function blockedKnockout(stretch: AttentionStretch, facts: KnockoutGraphFacts, knockout: LayerKnockout): NodeProto[] {
  const { layer: l, selected, queries } = knockout;
  const scoreType = facts.typeOf(stretch.softmax.input![0]!) ?? FLOAT;
  const context = stretch.values.output![0]!;
  const contextType = facts.typeOf(context);
  const loop = blockedLoop(l, knockout.length, knockout.blockRows, (body) => {
    const knockedOut = (scores: string): string => {
      const blocked = body.nodes.add('And', [selected, body.rowsOf(queries, 'knockout_queries', 4)], `legal_attn.knockout_blocked.${l}`);
      return body.nodes.add('Where', [blocked, facts.lowest(scoreType), scores], `legal_attn.knockout_scores.${l}`);
    };
    const block = stretchOnBlock(body, stretch, facts.graph, facts.rankOf, knockedOut);
    return [{ inner: block.context, outer: context, rows: 2, rank: 4, ...(contextType !== undefined && contextType !== FLOAT ? { elemType: contextType } : {}) }];
  }, []);
  return loop.nodes;
}
