import assert from 'node:assert/strict';
import { attentionEntropy } from '../../lib/measure/entropy.js';

const A3 = Float32Array.of(1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5);

describe('attentionEntropy', () => {
  it('averages −Σ p ln p over the query rows, with 0 ln 0 = 0', () => {
    const rows = [0, Math.log(2), -(0.2 * Math.log(0.2) + 0.3 * Math.log(0.3) + 0.5 * Math.log(0.5))];
    assert.ok(Math.abs(attentionEntropy(A3, 3, [0, 1, 2]) - (rows[0]! + rows[1]! + rows[2]!) / 3) < 1e-6);
    assert.ok(Math.abs(attentionEntropy(A3, 3, [1]) - 0.693147) < 1e-6);
  });
  it('is 0 for a row that puts everything on one token', () => assert.equal(attentionEntropy(A3, 3, [0]), 0));
});
