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

  it('stays at chance on random states: accuracy near its shuffled-label level, and p not small', () => {
    const results = Array.from({ length: 10 }, (_, seed) => {
      const r = rows(60, 32, 4, 0, seed + 1);
      return crossValidatedProbe(r.data, 32, r.labels, r.folds);
    });
    const mean = (values: number[]): number => values.reduce((a, b) => a + b, 0) / values.length;
    assert.ok(Math.abs(mean(results.map((p) => p.accuracy)) - 0.25) < 0.06);
    assert.ok(Math.abs(mean(results.map((p) => p.accuracy - p.chance))) < 0.05);
    assert.ok(results.filter((p) => p.pValue < 0.05).length <= 2);
  });

  it('holding out whole groups, chance is what the held-out scheme gives, not the majority rate', () => {
    // 6 concepts in 2 balanced areas, each held out in turn: the training majority is always the other area
    const draw = normal(5);
    const concepts = 6;
    const perConcept = 5;
    const n = concepts * perConcept;
    const data = Float64Array.from({ length: n * 16 }, () => draw());
    const concept = Array.from({ length: n }, (_, i) => Math.floor(i / perConcept));
    const labels = concept.map((c) => (c % 2 === 0 ? 'contract' : 'tort'));
    const probe = crossValidatedProbe(data, 16, labels, concept, concept);
    // the majority of the training folds is never the held-out concept's area: that rate would be 0
    assert.ok(probe.chance > 0.25 && probe.chance < 0.75, `chance ${probe.chance}`);
    assert.ok(Math.abs(probe.accuracy - probe.chance) < 0.25, `accuracy ${probe.accuracy}, chance ${probe.chance}`);
    assert.ok(probe.pValue > 0.05, `p ${probe.pValue}`);
  });

  it('recovers a class planted along a direction, far above its shuffled-label level', () => {
    const r = rows(60, 32, 4, 4, 99);
    const probe = crossValidatedProbe(r.data, 32, r.labels, r.folds);
    assert.ok(probe.accuracy > 0.9, `accuracy ${probe.accuracy}`);
    assert.equal(probe.classes, 4);
    assert.ok(probe.chance95 < 0.45);
    assert.equal(probe.pValue, 1 / 101);
  });
});
