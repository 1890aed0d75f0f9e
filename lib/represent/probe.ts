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
  const mean = new Float64Array(width);
  for (const i of train) for (let k = 0; k < width; k++) mean[k]! += rows[i * width + k]! / train.length;
  const centred = (i: number): Float64Array => Float64Array.from({ length: width }, (_, k) => rows[i * width + k]! - mean[k]!);
  const x = train.map(centred);
  const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, v, k) => s + v * b[k]!, 0);
  const gram = new Matrix(train.length, train.length);
  for (let i = 0; i < train.length; i++) for (let j = i; j < train.length; j++) gram.set(i, j, dot(x[i]!, x[j]!)).set(j, i, gram.get(i, j));
  const ridge = (RIDGE * gram.trace()) / train.length || 1e-12;
  for (let i = 0; i < train.length; i++) gram.set(i, i, gram.get(i, i) + ridge);
  const targets = new Matrix(train.length, classes.length);
  // one-hot labels, centred like the features: the intercept is each class's share of the training rows
  const prior = classes.map((c) => train.filter((i) => labels[i] === c).length / train.length);
  train.forEach((i, r) => classes.forEach((c, k) => targets.set(r, k, (labels[i] === c ? 1 : 0) - prior[k]!)));
  const dual = solve(gram, targets);
  return test.map((i) => {
    const z = centred(i);
    const kernel = x.map((xi) => dot(xi, z));
    let best = 0;
    let bestScore = -Infinity;
    classes.forEach((_, c) => {
      const score = prior[c]! + kernel.reduce((s, v, r) => s + v * dual.get(r, c), 0);
      if (score > bestScore) [best, bestScore] = [c, score];
    });
    return classes[best]!;
  });
}
