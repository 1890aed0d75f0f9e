import type { Offset } from '../tokenize/align-spans.js';
import { wordsOf, type Word } from './words.js';

/**
 * What a token is, beyond where it sits: how common it is in the run's texts, how large
 * the first model's embedding row for it is, and which word it helps spell. Concept
 * terms are a class of their own (rarer, split into more pieces, with larger embedding
 * rows), and any change of a model moves such a class as a group; controls are
 * matched on these so that a concept is compared with words of its own kind.
 */
export interface TokenClasses {
  /** Per token: ln(1 + the number of times its id occurs over every text of the run). */
  logFrequency: number[];
  /** Per token: the norm of the first model's embedding row; absent where the table could not be read. */
  embeddingNorm?: number[];
  /** Per token: the index in `words` of the word it helps spell, −1 for none (special tokens, punctuation). */
  word: number[];
  words: Word[];
}

export interface ClassInput {
  ids: ArrayLike<bigint | number>;
  text: string;
  offsets: readonly Offset[];
}

/** The token classes of every sequence of a run; `embeddingNorm` gives the norm of an id's embedding row, or is undefined. */
export function tokenClasses(sequences: readonly ClassInput[], embeddingNorm?: (id: number) => number): TokenClasses[] {
  const counts = new Map<number, number>();
  for (const s of sequences) for (let t = 0; t < s.ids.length; t++) counts.set(Number(s.ids[t]), (counts.get(Number(s.ids[t])) ?? 0) + 1);
  return sequences.map((s) => {
    const ids = Array.from({ length: s.ids.length }, (_, t) => Number(s.ids[t]));
    const words = wordsOf(s.text, s.offsets);
    const word = new Array<number>(ids.length).fill(-1);
    words.forEach((w, k) => w.tokens.forEach((t) => (word[t] = k)));
    return {
      logFrequency: ids.map((id) => Math.log1p(counts.get(id) ?? 0)),
      ...(embeddingNorm ? { embeddingNorm: ids.map(embeddingNorm) } : {}),
      word,
      words,
    };
  });
}

/** Names of the class features, in the order `spanFeatures` gives them. */
export const CLASS_FEATURES = ['position', 'length', 'frequency', 'pieces', 'alignment', 'embeddingNorm'] as const;

const mean = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0) / (values.length || 1);

/**
 * A span's class features: ln(1 + its mean token position), ln of its sequence's
 * length, the mean ln frequency of its tokens, the mean number of pieces of the words
 * its tokens spell (1 for a token of no word), whether it starts and ends on word
 * boundaries (0, ½ or 1), and the mean embedding row norm where it is known.
 */
export function spanFeatures(classes: TokenClasses, tokens: readonly number[]): number[] {
  const T = classes.word.length;
  const pieces = tokens.map((t) => classes.words[classes.word[t]!]?.tokens.length ?? 1);
  const first = classes.words[classes.word[tokens[0]!]!];
  const last = classes.words[classes.word[tokens[tokens.length - 1]!]!];
  const alignment = ((first?.tokens[0] === tokens[0] ? 1 : 0) + (last?.tokens[last.tokens.length - 1] === tokens[tokens.length - 1] ? 1 : 0)) / 2;
  const features = [Math.log1p(mean(tokens)), Math.log(T), mean(tokens.map((t) => classes.logFrequency[t]!)), mean(pieces), alignment];
  if (classes.embeddingNorm) features.push(mean(tokens.map((t) => classes.embeddingNorm![t]!)));
  return features;
}
