import assert from 'node:assert/strict';
import { rolloutConceptMass, rolloutShare } from '../../lib/measure/rollout.js';

const A3 = [1, 0, 0, 0.5, 0.5, 0, 0.2, 0.3, 0.5];
const close = (actual: number, expected: number) => assert.ok(Math.abs(actual - expected) < 1e-6, `${actual} ≠ ${expected}`);

describe('rolloutConceptMass', () => {
  // Â = 0.5·A + 0.5·I = [[1, 0, 0], [0.25, 0.75, 0], [0.1, 0.15, 0.75]]
  it('after one layer is Â·1_C', () => {
    const mass = rolloutConceptMass({ data: Float32Array.from(A3), dims: [1, 1, 3, 3] }, [1]);
    assert.deepEqual(Array.from(mass.data, (v) => Math.round(v * 1e6) / 1e6), [0, 0.75, 0.15]);
    close(rolloutShare(mass, 0, [0, 1, 2]), 0.9 / 3);
  });

  it('after two layers is Â·Â·1_C', () => {
    const mass = rolloutConceptMass({ data: Float32Array.from([...A3, ...A3]), dims: [2, 1, 3, 3] }, [1]);
    close(mass.data[3 + 1]!, 0.5625);
    close(mass.data[3 + 2]!, 0.1 * 0 + 0.15 * 0.75 + 0.75 * 0.15);
  });

  it('averages heads before mixing in the identity', () => {
    const B = [1, 0, 0, 0, 1, 0, 0, 1, 0];
    const mass = rolloutConceptMass({ data: Float32Array.from([...A3, ...B]), dims: [1, 2, 3, 3] }, [1]);
    // mean of heads row 2 is [0.1, 0.65, 0.25]; Â row 2 = [0.05, 0.325, 0.625]
    close(mass.data[2]!, 0.325);
  });
});
