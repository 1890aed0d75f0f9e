import assert from 'node:assert/strict';
import { conceptTokens, majorityTokens, spanTokens, type Offset } from '../../lib/tokenize/align-spans.js';

// "<s>" "▁A" "▁prom" "ise" "▁by" "▁consider" "ation," of "A promise by consideration,"
const offsets: Offset[] = [
  [0, 0],
  [0, 1],
  [1, 6],
  [6, 9],
  [9, 12],
  [12, 21],
  [21, 27],
];

describe('spanTokens', () => {
  it('takes every token that overlaps the span, including one whose ▁ starts on the space before it', () => {
    // "consideration" is [13, 26): "▁consider" starts at the space (12)
    assert.deepEqual(spanTokens(offsets, { start: 13, end: 26 }), [5, 6]);
  });

  it('takes a token that only partly overlaps', () => {
    assert.deepEqual(spanTokens(offsets, { start: 2, end: 4 }), [2]);
  });

  it('never takes a special token with an empty range', () => {
    assert.deepEqual(spanTokens(offsets, { start: 0, end: 1 }), [1]);
  });

  it('takes no token for a span on characters no token covers', () => {
    assert.deepEqual(spanTokens([[0, 0], [0, 3], [5, 8]], { start: 3, end: 5 }), []);
  });
});

describe('conceptTokens', () => {
  it('is the sorted union of the spans, whatever order they are listed in', () => {
    const a = conceptTokens([{ tokens: [5, 6] }, { tokens: [2, 5] }]);
    const b = conceptTokens([{ tokens: [2, 5] }, { tokens: [5, 6] }]);
    assert.deepEqual(a, [2, 5, 6]);
    assert.deepEqual(b, a);
  });
});

describe('majorityTokens', () => {
  // "He asserts, then" split as "He", " assert", "s,", " then"
  const text = Array.from('He asserts, then');
  const offsets: Offset[] = [[0, 2], [2, 9], [9, 11], [11, 16]];
  const asserts = { start: 3, end: 10 };

  it('keeps the tokens with more than half of their characters in the span: "asserts" does not pull in "s,"', () => {
    assert.deepEqual(spanTokens(offsets, asserts), [1, 2]);
    assert.deepEqual(majorityTokens(text, offsets, asserts), [1]);
  });

  it('does not count the space a SentencePiece token carries before its word: "▁h" of "hostile" stays', () => {
    // " h", "ost", "ile" of "a hostile act"
    const hostile = Array.from('a hostile act');
    assert.deepEqual(majorityTokens(hostile, [[0, 1], [1, 3], [3, 6], [6, 9], [9, 13]], { start: 2, end: 9 }), [1, 2, 3]);
  });

  it('falls back to the token that overlaps most when no token is mostly inside', () => {
    assert.deepEqual(majorityTokens(text, offsets, { start: 9, end: 10 }), [2]);
    assert.deepEqual(majorityTokens(Array.from('abcdefghij'), [[0, 10]], { start: 2, end: 4 }), [0]);
  });
});
