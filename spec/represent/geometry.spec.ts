import assert from 'node:assert/strict';
import { randomLcg, randomNormal } from 'd3-random';
import { Matrix as MlMatrix, solve } from 'ml-matrix';
import { centredGram, cosineDistance, linearCka, rowProducts } from '../../lib/represent/geometry.js';
import { crossValidatedProbe, PROBE_SHUFFLES, RIDGE } from '../../lib/represent/probe.js';

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

  /**
   * The probe as it was first written: per fold, the Gram centred on the training rows
   * in its dual form, the ridge system K + λI solved with ml-matrix for every
   * labelling's centred one-hot columns, and each test row scored class by class in
   * sorted order (the first of equal scores wins). The correct predictions per labelling.
   */
  function referenceCounts(data: Float64Array, d: number, labellings: ReadonlyArray<readonly string[]>, folds: readonly number[]): number[] {
    const n = folds.length;
    const gram = rowProducts({ data, rows: n, width: d });
    const correct = labellings.map(() => 0);
    for (const fold of new Set(folds)) {
      const train = folds.flatMap((f, i) => (f === fold ? [] : [i]));
      const test = folds.flatMap((f, i) => (f === fold ? [i] : []));
      const t = train.length;
      const m = Array.from({ length: n }, (_, i) => train.reduce((s, k) => s + gram[i * n + k]! / t, 0));
      const mean = train.reduce((s, k) => s + m[k]!, 0) / t;
      const centred = (i: number, j: number): number => gram[i * n + j]! - m[i]! - m[j]! + mean;
      const system = new MlMatrix(train.map((i) => train.map((j) => centred(i, j))));
      const ridge = (RIDGE * train.reduce((s, _, r) => s + system.get(r, r), 0)) / t;
      for (let r = 0; r < t; r++) system.set(r, r, system.get(r, r) + ridge);
      const kernel = test.map((i) => train.map((j) => centred(i, j)));
      labellings.forEach((labels, q) => {
        const classes = [...new Set(train.map((i) => labels[i]!))].sort();
        const prior = classes.map((c) => train.filter((i) => labels[i] === c).length / t);
        const dual = solve(system, new MlMatrix(train.map((i) => classes.map((c, k) => (labels[i] === c ? 1 : 0) - prior[k]!))));
        test.forEach((i, k) => {
          const scores = classes.map((_, c) => kernel[k]!.reduce((s, v, r) => s + v * dual.get(r, c), prior[c]!));
          const best = scores.reduce((b, s, c) => (s > scores[b]! ? c : b), 0);
          if (classes[best] === labels[i]) correct[q]! += 1;
        });
      });
    }
    return correct;
  }

  it('agrees with solving the ridge system for every labelling: the same correct predictions, accuracy, chance and p', () => {
    const [n, d, classes] = [45, 12, 5];
    const cases = [
      { seed: 3, signal: 0, distinct: n },
      { seed: 11, signal: 0.7, distinct: n },
      { seed: 23, signal: 1.5, distinct: n },
    ];
    for (const { seed, signal, distinct } of cases) {
      const draw = normal(seed);
      const labels = Array.from({ length: n }, (_, i) => `class-${((i % distinct) * 7) % classes}`);
      const base = Array.from({ length: distinct * d }, (_, k) => draw() + (k % d === Number(labels[Math.floor(k / d)]!.slice(6)) ? signal : 0));
      const data = Float64Array.from({ length: n * d }, (_, k) => base[(Math.floor(k / d) % distinct) * d + (k % d)]!);
      const folds = labels.map((_, i) => i % 3);
      const probe = crossValidatedProbe(data, d, labels, folds);
      // the probe's own shuffles (no groups: single rows permuted, its generator seeded at 1), reproduced
      const random = randomLcg(1);
      const shuffled = Array.from({ length: PROBE_SHUFFLES }, () => {
        const order = labels.map((_, i) => i);
        for (let k = order.length - 1; k > 0; k--) {
          const j = Math.floor(random() * (k + 1));
          [order[k], order[j]] = [order[j]!, order[k]!];
        }
        return order.map((k) => labels[k]!);
      });
      const correct = referenceCounts(data, d, [labels, ...shuffled], folds);
      const accuracy = correct[0]! / n;
      const chances = correct.slice(1).map((c) => c / n).sort((x, y) => x - y);
      assert.equal(probe.accuracy, accuracy, `seed ${seed}: accuracy`);
      assert.equal(probe.pValue, (1 + chances.filter((x) => x >= accuracy).length) / (1 + chances.length), `seed ${seed}: p`);
      assert.equal(probe.chance95, chances[Math.floor(0.95 * chances.length)], `seed ${seed}: chance95`);
      assert.equal(probe.chance, chances.reduce((x, y) => x + y, 0) / chances.length, `seed ${seed}: chance`);
      assert.equal(probe.classes, classes);
    }
  });

  it('calls scores equal but for rounding ties, and of tied scores predicts the first class in sorted order', () => {
    // fold 0: ±e1, ±e2, ±e3 (3 'a', 3 'b'); fold 1: four zero rows (2 'a', 2 'c'). Each fold's held-out rows sit on its
    // training mean, so their scores are the training priors, equal for the two classes: 'a' wins both times
    const data = Float64Array.from([1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, 0, 0, 0, 1, 0, 0, -1, ...Array<number>(12).fill(0)]);
    const labels = ['a', 'a', 'a', 'b', 'b', 'b', 'a', 'a', 'c', 'c'];
    const probe = crossValidatedProbe(data, 3, labels, [0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
    assert.equal(probe.accuracy, 5 / 10);
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
