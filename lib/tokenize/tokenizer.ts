import { access } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { badInput } from '../errors.js';
import type { ConceptSpan } from '../concepts/concept.js';
import { spanTokens, type Offset, type TokenSpan } from './align-spans.js';

/** A text as the model reads it: ids with their strings and character offsets. */
export interface Tokenization {
  text: string;
  ids: BigInt64Array;
  tokens: string[];
  /** `[start, end)` in code points of `text`; `[0, 0]` for special tokens such as `<s>`. */
  offsets: Offset[];
}

export interface AlignedSequence extends Tokenization {
  spans: TokenSpan[];
}

/** The checkpoint's own tokenizer, loaded from its `tokenizer.json`. */
export interface CheckpointTokenizer {
  file: string;
  /** Highest token id + 1: the embedding rows the model needs. */
  vocabSize: number;
  encode(text: string): Promise<Tokenization>;
}

export async function loadTokenizer(checkpointDir: string): Promise<CheckpointTokenizer> {
  const file = path.join(checkpointDir, 'tokenizer.json');
  await access(file).catch(() => {
    throw badInput(`${file}: not found; a checkpoint folder needs the tokenizer.json of its model (save it with tokenizer.save_pretrained).`);
  });
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromFile(file);
  } catch (error) {
    throw badInput(`${file}: not a tokenizer the Hugging Face tokenizers library can read (${String(error).split('\n')[0]}); re-save it with a recent transformers.`, error);
  }
  return {
    file,
    vocabSize: Math.max(...Object.values(tokenizer.getVocab(true))) + 1,
    // The post-processor adds the special tokens the model was trained with (`<s>` for Mistral).
    async encode(text: string): Promise<Tokenization> {
      const encoding = await tokenizer.encode(text);
      return {
        text,
        ids: BigInt64Array.from(encoding.getIds(), (id) => BigInt(id)),
        tokens: encoding.getTokens(),
        offsets: encoding.getOffsets().map(([start = 0, end = 0]) => [start, end] as const),
      };
    },
  };
}

/**
 * Tokenizes a sequence and maps each concept span onto the tokens it covers. A span
 * that covers no token is an error named by `where`.
 */
export async function tokenizeSequence(
  tokenizer: CheckpointTokenizer,
  text: string,
  spans: readonly ConceptSpan[],
  where: string,
): Promise<AlignedSequence> {
  const tokenization = await tokenizer.encode(text);
  const aligned = spans.map((span): TokenSpan => {
    const tokens = spanTokens(tokenization.offsets, span);
    if (tokens.length === 0) {
      throw badInput(`${where}: the span [${span.start}, ${span.end}) covers no token of ${tokenizer.file}; widen it to whole words.`);
    }
    return { ...span, tokens };
  });
  return { ...tokenization, spans: aligned };
}
