import assert from 'node:assert/strict';
import { conceptTokens, spanTokens, type Offset } from '../../lib/tokenize/align-spans.js';

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
