import type { ConceptSpan } from '../concepts/concept.js';

/** A character range `[start, end)`; special tokens have an empty one. */
export type Offset = readonly [number, number];

/** A concept span together with the indices of the tokens it covers. */
export interface TokenSpan extends ConceptSpan {
  tokens: number[];
}

/**
 * Indices of the tokens whose character range overlaps `[span.start, span.end)`.
 * Overlap, not containment: a SentencePiece token `▁consider` whose range starts at the
 * space before the word still belongs to the concept "consideration".
 */
export function spanTokens(offsets: readonly Offset[], span: ConceptSpan): number[] {
  const covered: number[] = [];
  offsets.forEach(([start, end], index) => {
    if (start < span.end && end > span.start && end > start) covered.push(index);
  });
  return covered;
}

/** The concept tokens C: the sorted union of the tokens of the given spans. */
export function conceptTokens(spans: readonly Pick<TokenSpan, 'tokens'>[]): number[] {
  return [...new Set(spans.flatMap((span) => span.tokens))].sort((a, b) => a - b);
}
