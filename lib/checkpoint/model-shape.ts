/** What `config.json` (or `genai_config.json`) says of the shapes legal-attn cares about. */
export interface ModelShape {
  modelType?: string;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  headSize?: number;
  hiddenSize?: number;
  maxPositions?: number;
  vocabSize?: number;
  slidingWindow?: number;
}

const positiveInt = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;

export function readShape(config: Record<string, unknown> | undefined, tokenizerConfig: Record<string, unknown> | undefined): ModelShape {
  const c = config ?? {};
  const shape: ModelShape = {};
  const set = <K extends keyof ModelShape>(key: K, value: ModelShape[K] | undefined): void => {
    if (value !== undefined) shape[key] = value;
  };
  set('modelType', typeof c.model_type === 'string' ? c.model_type : undefined);
  set('layers', positiveInt(c.num_hidden_layers ?? c.n_layer ?? c.num_layers));
  set('heads', positiveInt(c.num_attention_heads ?? c.n_head));
  set('kvHeads', positiveInt(c.num_key_value_heads) ?? shape.heads);
  set('hiddenSize', positiveInt(c.hidden_size ?? c.n_embd));
  set('headSize', positiveInt(c.head_dim) ?? (shape.hiddenSize && shape.heads ? shape.hiddenSize / shape.heads : undefined));
  // Tokenizers often carry a sentinel like 1e30 for "no limit": only believe a sane one.
  const tokenizerLimit = positiveInt(tokenizerConfig?.model_max_length);
  set('maxPositions', positiveInt(c.max_position_embeddings ?? c.n_positions) ?? (tokenizerLimit && tokenizerLimit < 10_000_000 ? tokenizerLimit : undefined));
  set('vocabSize', positiveInt(c.vocab_size));
  set('slidingWindow', positiveInt(c.sliding_window));
  return shape;
}

