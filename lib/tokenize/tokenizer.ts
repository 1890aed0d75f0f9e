import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from 'tokenizers';
import { badInput } from '../errors.js';
import { codePointLength, type ConceptSpan } from '../concepts/concept.js';
import { loadChatTemplate } from './chat-template.js';
import { majorityTokens, spanTokens, type Offset, type TokenSpan } from './align-spans.js';

/** A text as the model reads it: ids with their strings and character offsets. */
export interface Tokenization {
  text: string;
  /** The text as fed to the model, when a chat template wrapped it. */
  templated?: string;
  ids: BigInt64Array;
  tokens: string[];
  /** `[start, end)` in code points of `text`; `[0, 0]` for special tokens such as `<s>` and for chat-template tokens. */
  offsets: Offset[];
}

export interface AlignedSequence extends Tokenization {
  spans: TokenSpan[];
}

/** How each text is wrapped: raw, or in a chat template (the checkpoint's own, or that of the folder `chatTemplateFrom`). */
export interface TemplateChoice {
  chatTemplate?: boolean;
  chatTemplateFrom?: string;
}

/** The checkpoint's own tokenizer, loaded from its `tokenizer.json`. */
export interface CheckpointTokenizer {
  file: string;
  /** Highest token id + 1: the embedding rows the model needs. */
  vocabSize: number;
  encode(text: string): Promise<Tokenization>;
}

/**
 * A tokenizer.json as the Hugging Face tokenizers library reads it, without the padding
 * and truncation some files set (sentence-transformers' pad to a multiple of 8 and cut
 * at 256): legal-attn pads batches itself, and a text must reach the model whole.
 */
async function readTokenizer(file: string): Promise<Tokenizer> {
  await access(file).catch(() => {
    throw badInput(`${file}: not found; a checkpoint folder needs the tokenizer.json of its model (save it with tokenizer.save_pretrained).`);
  });
  try {
    JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw badInput(`${file}: not JSON (${String(error instanceof Error ? error.message : error).split('\n')[0]}); copy the model's tokenizer.json again, or save it with tokenizer.save_pretrained.`, error);
  }
  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.fromFile(file);
  } catch (error) {
    throw badInput(`${file}: not a tokenizer the Hugging Face tokenizers library can read (${String(error).split('\n')[0]}); re-save it with a recent transformers.`, error);
  }
  tokenizer.disablePadding();
  tokenizer.disableTruncation();
  return tokenizer;
}

/** Highest token id + 1, added tokens included: the embedding rows a model of this tokenizer needs. */
const idsNeeded = (tokenizer: Tokenizer): number => Math.max(...Object.values(tokenizer.getVocab(true))) + 1;

/** The embedding rows a model needs to read the ids of a tokenizer.json. */
export async function tokenizerVocabSize(file: string): Promise<number> {
  return idsNeeded(await readTokenizer(file));
}

/**
 * The checkpoint's tokenizer. With `chatTemplate`, each text is first wrapped in the
 * checkpoint's chat template (as one user message) and encoded without adding special
 * tokens again; offsets still count characters of the original text, and the
 * template's own tokens get the empty range, so spans keep pointing at their words.
 */
export async function loadTokenizer(checkpointDir: string, options: TemplateChoice = {}): Promise<CheckpointTokenizer> {
  const file = path.join(checkpointDir, 'tokenizer.json');
  const tokenizer = await readTokenizer(file);
  const wrap = options.chatTemplate ? await loadChatTemplate(options.chatTemplateFrom ?? checkpointDir) : undefined;
  return {
    file,
    vocabSize: idsNeeded(tokenizer),
    async encode(text: string): Promise<Tokenization> {
      if (!wrap) {
        // The post-processor adds the special tokens the model was trained with (`<s>` for Mistral).
        const encoding = await tokenizer.encode(text);
        return {
          text,
          ids: BigInt64Array.from(encoding.getIds(), (id) => BigInt(id)),
          tokens: encoding.getTokens(),
          offsets: encoding.getOffsets().map(([start = 0, end = 0]) => [start, end] as const),
        };
      }
      const { rendered, start } = wrap(text);
      const encoding = await tokenizer.encode(rendered, null, { addSpecialTokens: false });
      const shift = codePointLength(rendered.slice(0, start));
      const length = codePointLength(text);
      return {
        text,
        templated: rendered,
        ids: BigInt64Array.from(encoding.getIds(), (id) => BigInt(id)),
        tokens: encoding.getTokens(),
        offsets: encoding.getOffsets().map(([a = 0, b = 0]) => {
          const from = Math.max(0, a - shift);
          const to = Math.min(length, b - shift);
          return to > from ? ([from, to] as const) : ([0, 0] as const);
        }),
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
  const characters = Array.from(text);
  const aligned = spans.map((span): TokenSpan => {
    const tokens = spanTokens(tokenization.offsets, span);
    if (tokens.length === 0) {
      throw badInput(`${where}: the span [${span.start}, ${span.end}) covers no token of ${tokenizer.file}; widen it to whole words.`);
    }
    return { ...span, tokens, majority: majorityTokens(characters, tokenization.offsets, span) };
  });
  return { ...tokenization, spans: aligned };
}

/**
 * Another model of a lineage must read the texts as the first one did (`expected`, by
 * the first model's tokenizer): else concept tokens would not correspond.
 */
export async function checkReadsAlike(first: { name: string; dir: string }, other: { name: string; dir: string }, expected: readonly Tokenization[], template: TemplateChoice): Promise<void> {
  const tokenizer = await loadTokenizer(other.dir, template);
  for (const { text, ids: expectedIds } of expected) {
    const ids = (await tokenizer.encode(text)).ids;
    if (ids.length !== expectedIds.length || ids.some((id, i) => id !== expectedIds[i])) {
      throw badInput(
        `models ${first.name} and ${other.name} tokenize "${text.slice(0, 40)}…" differently (${tokenizer.file} differs from ${path.join(first.dir, 'tokenizer.json')}); concept tokens would not correspond, so compare needs one tokenizer.`,
      );
    }
  }
}
