import type { ReferenceSpan } from '../reference/reference-spans.js';
import type { AlignedSequence } from '../tokenize/tokenizer.js';

type Spanned = Pick<AlignedSequence, 'ids' | 'spans'>;

/** One pooled row of a sequence's states: a span whose tokens' states are averaged. */
export interface StateRow {
  /** `concept`: the concept's tokens; `component`: a labelled part; `control`: a control run and `word`: a negative-control word (the sequence's reference spans); `token`: one token (for CKA over tokens). */
  kind: 'concept' | 'component' | 'control' | 'word' | 'token';
  /** A component's label, or a word's type. */
  label?: string;
  tokens: number[];
}

/** At most this many single tokens per sequence are kept for CKA over tokens (evenly spaced beyond it). */
export const TOKEN_ROWS = 128;

/**
 * The rows pooled from one sequence's states: the concept (all its unlabelled spans'
 * tokens), each component, the sequence's reference spans (control runs and negative-
 * control words, the same as for attention) and single tokens. The first token (the
 * sink) is left out of the token rows, as of the reference spans.
 */
export function stateRows(aligned: Spanned, references: readonly ReferenceSpan[]): StateRow[] {
  const T = aligned.ids.length;
  const concept = [...new Set(aligned.spans.filter((s) => !s.label).flatMap((s) => s.tokens))].sort((a, b) => a - b);
  const rows: StateRow[] = [];
  if (concept.length > 0) rows.push({ kind: 'concept', tokens: concept });
  for (const span of aligned.spans) if (span.label && span.tokens.length > 0) rows.push({ kind: 'component', label: span.label, tokens: span.tokens });
  for (const r of references) rows.push(r.kind === 'word' ? { kind: 'word', label: r.word!, tokens: [...r.tokens] } : { kind: 'control', tokens: [...r.tokens] });
  const candidates = T - 1;
  const count = Math.min(TOKEN_ROWS, candidates);
  for (let k = 0; k < count; k++) rows.push({ kind: 'token', tokens: [1 + Math.floor((k * candidates) / count)] });
  return rows;
}

/**
 * `[S, T]`: row s weighs each of row s's tokens by 1/width, so that pool · states is
 * each row's mean state; zero rows after them up to `S` (a batch shares one S).
 */
export function poolMatrix(rows: readonly StateRow[], T: number, S = rows.length): Float32Array {
  const pool = new Float32Array(S * T);
  rows.forEach((row, s) => {
    for (const t of row.tokens) pool[s * T + t] = 1 / row.tokens.length;
  });
  return pool;
}
