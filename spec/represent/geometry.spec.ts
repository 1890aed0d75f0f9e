import assert from 'node:assert/strict';
import { randomLcg, randomNormal } from 'd3-random';
import { centredGram, cosineDistance, linearCka } from '../../lib/represent/geometry.js';
import { crossValidatedProbe } from '../../lib/represent/probe.js';

type Matrix = number[][];
const flat = (rows: Matrix): Float64Array => Float64Array.from(rows.flat());
const gram = (rows: Matrix): Float64Array => centredGram({ data: flat(rows), rows: rows.length, width: rows[0]!.length });

/** Linear CKA in its feature-space form, written out: ‖YᵀX‖² / (‖XᵀX‖ ‖YᵀY‖) on column-centred X and Y. */
function featureCka(x: Matrix, y: Matrix): number {
  const centre = (m: Matrix): Matrix => m.map((row) => row.map((v, k) => v - m.reduce((s, r) => s + r[k]!, 0) / m.length));
  const [a, b] = [centre(x), centre(y)];
  const cross = (p: Matrix, q: Matrix): number => {
    let sum = 0;
    for (let i = 0; i < p[0]!.length; i++) {
      for (let j = 0; j < q[0]!.length; j++) {
        const dot = p.reduce((s, row, n) => s + row[i]! * q[n]![j]!, 0);
        sum += dot * dot;
      }
    }
    return sum;
  };
  return cross(b, a) / Math.sqrt(cross(a, a) * cross(b, b));
}

describe('representation geometry', () => {
  it('cosine distance by hand: orthogonal 1, opposite 2, same direction 0, a zero vector has none', () => {
    assert.equal(cosineDistance([1, 0], [0, 3]), 1);
    assert.equal(cosineDistance([1, 2], [-2, -4]), 2);
    assert.ok(Math.abs(cosineDistance([1, 2, 3], [2, 4, 6])) < 1e-12);
    // cos 60° = 0.5
    assert.ok(Math.abs(cosineDistance([1, 0], [0.5, Math.sqrt(3) / 2]) - 0.5) < 1e-12);
    assert.ok(Number.isNaN(cosineDistance([0, 0], [1, 1])));
  });

  it('linear CKA from centred Grams equals its feature-space form', () => {
    const x = [[1, 0, 2], [0, 1, 1], [1, 1, 0], [3, 0, 1], [0, 2, 2]];
    const y = [[2, 1], [0, 1], [1, 3], [1, 0], [4, 1]];
    const expected = featureCka(x, y);
    assert.ok(expected > 0.05 && expected < 0.95, `a value between the extremes: ${expected}`);
    assert.ok(Math.abs(linearCka(gram(x), gram(y)) - expected) < 1e-12);
  });

  it('CKA is 1 for states equal up to rotation, scale and shift, and NaN without spread', () => {
    const x = [[1, 0], [0, 1], [2, 3], [-1, 4]];
    const [c, s] = [Math.cos(0.7), Math.sin(0.7)];
    const turned = x.map(([a, b]) => [3 * (c * a! - s * b!) + 5, 3 * (s * a! + c * b!) - 2]);
    assert.ok(Math.abs(linearCka(gram(x), gram(turned)) - 1) < 1e-12);
    assert.ok(Number.isNaN(linearCka(gram(x), gram(x.map(() => [1, 1])))));
  });
});

describe('the linear probe', () => {
  const normal = (seed: number): (() => number) => randomNormal.source(randomLcg(seed))(0, 1);
  /** n rows of width d in `classes` classes, class c's rows shifted by `signal` along axis c. */
  function rows(n: number, d: number, classes: number, signal: number, seed: number): { data: Float64Array; labels: string[]; folds: number[] } {
    const draw = normal(seed);
    const labels = Array.from({ length: n }, (_, i) => `class-${i % classes}`);
    const data = Float64Array.from({ length: n * d }, (_, k) => draw() + (k % d === Math.floor(k / d) % classes ? signal : 0));
    return { data, labels, folds: labels.map((_, i) => i % 5) };
  }

  it('stays at chance on random states (mean accuracy over 20 draws within 0.06 of 1/classes)', () => {
    const accuracies = Array.from({ length: 20 }, (_, seed) => {
      const r = rows(60, 32, 4, 0, seed + 1);
      return crossValidatedProbe(r.data, 32, r.labels, r.folds).accuracy;
    });
    const mean = accuracies.reduce((a, b) => a + b, 0) / accuracies.length;
    assert.ok(Math.abs(mean - 0.25) < 0.06, `mean accuracy ${mean}`);
  });

  it('recovers a class planted along a direction, and says the majority rate as chance', () => {
    const r = rows(60, 32, 4, 4, 99);
    const probe = crossValidatedProbe(r.data, 32, r.labels, r.folds);
    assert.ok(probe.accuracy > 0.9, `accuracy ${probe.accuracy}`);
    assert.equal(probe.classes, 4);
    // balanced folds of 12 rows, 3 per class: every training fold has 12 of each class, the tie broken by name
    assert.equal(probe.chance, 0.25);
  });
});
