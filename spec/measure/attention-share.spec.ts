import assert from 'node:assert/strict';
import { attentionShare } from '../../lib/measure/attention-share.js';
import { querySet } from '../../lib/measure/query-set.js';

// A 3×3 causal attention, rows sum to 1; the concept is token 1.
const A3 = Float32Array.of(1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5);
// A 4×4 one; the concept is tokens 1 and 2.
const A4 = Float32Array.of(1, 0, 0, 0, 0.6, 0.4, 0, 0, 0.5, 0.25, 0.25, 0, 0.4, 0.1, 0.2, 0.3);
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

describe('querySet', () => {
  it('all is every token; after starts at the first concept token; outside is after it and not in it', () => {
    assert.deepEqual(querySet('all', 4, [1, 2]), [0, 1, 2, 3]);
    assert.deepEqual(querySet('after', 4, [1, 2]), [1, 2, 3]);
    assert.deepEqual(querySet('outside', 4, [1, 2]), [3]);
    assert.deepEqual(querySet('outside', 5, [1, 3]), [2, 4]);
  });
});

describe('attentionShare', () => {
  it('over all queries of the 3×3 is (0 + 0.5 + 0.3) / 3', () => close(attentionShare(A3, 3, [1], querySet('all', 3, [1])), 0.8 / 3));
  it('over queries after the concept of the 3×3 is (0.5 + 0.3) / 2', () => close(attentionShare(A3, 3, [1], querySet('after', 3, [1])), 0.4));
  it('over queries outside the concept of the 3×3 is 0.3', () => close(attentionShare(A3, 3, [1], querySet('outside', 3, [1])), 0.3));
  it('without the sink renormalises rows: (0.5/0.5 + 0.3/0.8) / 2 on the 3×3', () =>
    close(attentionShare(A3, 3, [1], querySet('all', 3, [1]), 'exclude'), (1 + 0.375) / 2));

  it('sums a two-token concept on the 4×4: (0 + 0.4 + 0.5 + 0.3) / 4', () => close(attentionShare(A4, 4, [1, 2], querySet('all', 4, [1, 2])), 1.2 / 4));
  it('counts only the rows of the query set on the 4×4', () => {
    close(attentionShare(A4, 4, [1, 2], querySet('after', 4, [1, 2])), 1.2 / 3);
    close(attentionShare(A4, 4, [1, 2], querySet('outside', 4, [1, 2])), 0.3);
  });
  it('without the sink on the 4×4 is (0.4/0.4 + 0.5/0.5 + 0.3/0.6) / 3', () =>
    close(attentionShare(A4, 4, [1, 2], querySet('all', 4, [1, 2]), 'exclude'), 2.5 / 3));

  it('is 1 when the concept is every token', () => close(attentionShare(A4, 4, [0, 1, 2, 3], querySet('all', 4, [0]), 'include'), 1));
  it('does not depend on the order the concept tokens are listed in', () =>
    assert.equal(attentionShare(A4, 4, [2, 1], [0, 1, 2, 3]), attentionShare(A4, 4, [1, 2], [0, 1, 2, 3])));
  it('is NaN for an empty query set', () => assert.ok(Number.isNaN(attentionShare(A3, 3, [1], []))));
});
