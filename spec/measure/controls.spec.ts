import assert from 'node:assert/strict';
import { controlSpans } from '../../lib/measure/controls.js';

describe('controlSpans', () => {
  it('lists every run of |C| tokens that avoids the concept and the first token', () => {
    assert.deepEqual(controlSpans(8, [3, 4], { maxControls: 100, seed: 1 }), [
      [1, 2],
      [5, 6],
      [6, 7],
    ]);
  });
  it('samples the same controls for the same seed, and at most maxControls', () => {
    const a = controlSpans(40, [10, 11, 12], { maxControls: 5, seed: 7 });
    assert.equal(a.length, 5);
    assert.deepEqual(controlSpans(40, [10, 11, 12], { maxControls: 5, seed: 7 }), a);
    assert.notDeepEqual(controlSpans(40, [10, 11, 12], { maxControls: 5, seed: 8 }), a);
    assert.ok(a.every((run) => run.every((t) => t > 0 && t < 40 && ![10, 11, 12].includes(t))));
  });
  it('takes sets of non-concept tokens that need not be consecutive when no run fits', () => {
    assert.deepEqual(controlSpans(8, [2, 4, 6], { maxControls: 10, seed: 1 }), [
      [1, 3, 5],
      [1, 3, 7],
      [1, 5, 7],
      [3, 5, 7],
    ]);
  });
  it('gives none when fewer tokens than the concept are left', () => assert.deepEqual(controlSpans(4, [1, 2], { maxControls: 10, seed: 1 }), []));
});
