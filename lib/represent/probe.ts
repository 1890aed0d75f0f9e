import { Matrix, solve } from 'ml-matrix';

/** What a cross-validated probe recovered. */
export interface ProbeAccuracy {
  /** Share of held-out rows whose label the probe predicted. */
  accuracy: number;
  /** The same share for always predicting the training folds' most common label. */
  chance: number;
  rows: number;
  classes: number;
}

/**
 * A linear probe: ridge regression of one-hot labels on the row vectors (a ridge
 * classifier), solved in its dual form (n × n) so that a 4,096-wide state costs no
 * more than a narrow one; features are centred on the training rows, and the ridge is
 * `RIDGE` × the mean squared row norm, a fixed, scale-free choice.
 */
export const RIDGE = 0.1;

/** Accuracy of the probe over folds: each row is predicted by a probe trained on the rows of the other folds. */
export function crossValidatedProbe(rows: Float32Array | Float64Array, width: number, labels: readonly string[], folds: readonly number[]): ProbeAccuracy {
  const n = labels.length;
  const classes = [...new Set(labels)].sort();
  let correct = 0;
  let chanceCorrect = 0;
  let tested = 0;
  for (const fold of new Set(folds)) {
    const train = folds.flatMap((f, i) => (f === fold ? [] : [i]));
    const test = folds.flatMap((f, i) => (f === fold ? [i] : []));
    if (train.length === 0) continue;
    const trainClasses = new Set(train.map((i) => labels[i]!));
    const counts = new Map<string, number>();
    for (const i of train) counts.set(labels[i]!, (counts.get(labels[i]!) ?? 0) + 1);
    const majority = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]![0];
    const predicted = predict(rows, width, labels, train, test, [...trainClasses].sort());
    test.forEach((i, k) => {
      tested++;
      if (predicted[k] === labels[i]) correct++;
      if (majority === labels[i]) chanceCorrect++;
    });
  }
  return { accuracy: tested > 0 ? correct / tested : Number.NaN, chance: tested > 0 ? chanceCorrect / tested : Number.NaN, rows: n, classes: classes.length };
}

function predict(rows: Float32Array | Float64Array, width: number, labels: readonly string[], train: readonly number[], test: readonly number[], classes: readonly string[]): string[] {
  const n = train.length;
  const mean = new Float64Array(width);
  for (const i of train) for (let k = 0; k < width; k++) mean[k]! += rows[i * width + k]! / n;
  const centred = (list: readonly number[]): Float64Array => {
    const out = new Float64Array(list.length * width);
    list.forEach((i, r) => {
      for (let k = 0; k < width; k++) out[r * width + k] = rows[i * width + k]! - mean[k]!;
    });
    return out;
  };
  const x = centred(train);
  const z = centred(test);
  const dot = (a: Float64Array, i: number, b: Float64Array, j: number): number => {
    let sum = 0;
    for (let k = 0; k < width; k++) sum += a[i * width + k]! * b[j * width + k]!;
    return sum;
  };
  const gram = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) gram.set(i, j, dot(x, i, x, j)).set(j, i, gram.get(i, j));
  const ridge = (RIDGE * gram.trace()) / n || 1e-12;
  for (let i = 0; i < n; i++) gram.set(i, i, gram.get(i, i) + ridge);
  // one-hot labels, centred like the features: the intercept is each class's share of the training rows
  const prior = classes.map((c) => train.filter((i) => labels[i] === c).length / n);
  const targets = new Matrix(n, classes.length);
  train.forEach((i, r) => classes.forEach((c, k) => targets.set(r, k, (labels[i] === c ? 1 : 0) - prior[k]!)));
  const dual = solve(gram, targets);
  return test.map((_, t) => {
    const kernel = Array.from({ length: n }, (_, r) => dot(x, r, z, t));
    let best = 0;
    let bestScore = -Infinity;
    classes.forEach((_, c) => {
      let score = prior[c]!;
      for (let r = 0; r < n; r++) score += kernel[r]! * dual.get(r, c);
      if (score > bestScore) [best, bestScore] = [c, score];
    });
    return classes[best]!;
  });
}
