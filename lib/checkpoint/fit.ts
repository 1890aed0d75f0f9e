import { badInput } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';

/** The tokenizer must not produce ids the model's embedding table lacks. */
export function checkVocabularyFits(checkpoint: Checkpoint, tokenizerFile: string, tokenizerVocab: number): void {
  const rows = checkpoint.graph.embeddingRows ?? checkpoint.shape.vocabSize;
  if (rows !== undefined && tokenizerVocab > rows) {
    throw badInput(
      `${tokenizerFile}: the tokenizer has ${tokenizerVocab} tokens but the model's embedding has ${rows} rows; use the tokenizer.json saved with this checkpoint.`,
    );
  }
}

/** A sequence may not be longer than the positions the model was trained for. */
export function checkLengthFits(checkpoint: Checkpoint, tokens: number, where: string): void {
  const limit = checkpoint.shape.maxPositions;
  if (limit !== undefined && tokens > limit) {
    throw badInput(`${where}: the text is ${tokens} tokens long but ${checkpoint.name} takes at most ${limit} (max_position_embeddings); split the text.`);
  }
}

/** Bytes of one full float32 attention stack `[layers, heads, T, T]`. */
export const fullMapBytes = (layers: number, heads: number, tokens: number): number => layers * heads * tokens * tokens * 4;
