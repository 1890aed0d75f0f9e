import type { ConceptSpan } from '../concepts/concept.js';

/** A character range `[start, end)`; special tokens have an empty one. */
export type Offset = readonly [number, number];

/** A concept span together with the indices of the tokens it covers. */
export interface TokenSpan extends ConceptSpan {
  /** Tokens that overlap the span by at least one character (the default rule). */
  tokens: number[];
  /** Tokens with more than half of their characters in the span (`--span-tokens majority`). */
  majority?: number[];
}

/** How a span's tokens are chosen: any overlap, or a majority of each token's characters. */
export type SpanRule = 'overlap' | 'majority';
export const SPAN_RULES: readonly SpanRule[] = ['overlap', 'majority'];

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

/**
 * Indices of the tokens more than half of whose characters lie in the span, counting
 * only characters that are not white space (a SentencePiece token `▁h` covers the
 * space before the word): "asserts" does not pull in a token `s,`. Where no token
 * qualifies (a span inside one long token), the token that overlaps it most.
 * `characters` is the text as code points, the unit of offsets.
 */
export function majorityTokens(characters: readonly string[], offsets: readonly Offset[], span: ConceptSpan): number[] {
  const visible = (from: number, to: number): number => {
    let n = 0;
    for (let k = from; k < to; k++) if (!/\s/u.test(characters[k] ?? '')) n++;
    return n;
  };
  const inside = offsets.map(([start, end]) => visible(Math.max(start, span.start), Math.min(end, span.end)));
  const covered = offsets.flatMap(([start, end], index) => (end > start && inside[index]! * 2 > visible(start, end) ? [index] : []));
  if (covered.length > 0) return covered;
  const most = inside.reduce((best, v, index) => (v > inside[best]! ? index : best), 0);
  return inside[most]! > 0 ? [most] : [];
}

/** The tokens of a span under a rule (spans read from older trace files have no majority tokens: overlap then). */
export const tokensByRule = (span: TokenSpan, rule: SpanRule): number[] => (rule === 'majority' ? (span.majority ?? span.tokens) : span.tokens);

/** The concept tokens C: the sorted union of the tokens of the given spans. */
export function conceptTokens(spans: readonly Pick<TokenSpan, 'tokens'>[]): number[] {
  return [...new Set(spans.flatMap((span) => span.tokens))].sort((a, b) => a - b);
}
