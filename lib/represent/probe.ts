import { randomLcg } from 'd3-random';
import { Matrix, solve } from 'ml-matrix';
import { rowProducts } from './geometry.js';

/** What a cross-validated probe recovered, beside what it recovers from shuffled labels. */
export interface ProbeAccuracy {
  /** Share of held-out rows whose label the probe predicted. */
  accuracy: number;
  /** Mean accuracy of the same probe, folds and ridge on labels shuffled over the groups: what chance gives. */
  chance: number;
  /** 95th percentile of the shuffled accuracies. */
  chance95: number;
  /** (1 + #{shuffled ≥ accuracy}) / (1 + shuffles). */
  pValue: number;
  rows: number;
  classes: number;
}

/**
 * A linear probe: ridge regression of one-hot labels on the row vectors (a ridge
 * classifier), solved in its dual form (n × n) so that a 4,096-wide state costs no
 * more than a narrow one; features and labels centred on the training rows, and the
 * ridge `RIDGE` × the mean squared centred row norm, a fixed, scale-free choice.
 */
export const RIDGE = 0.1;
/** Label shuffles for the chance level. */
export const PROBE_SHUFFLES = 100;

/**
 * Accuracy of the probe over folds (each row predicted by a probe trained on the
 * other folds), and its chance level from the same scheme on labels shuffled over
 * `groups` (rows of one group keep one label: a concept's area moves with all its
 * rows), so that a held-out scheme that favours some answers is not taken for signal.
 */
export function crossValidatedProbe(rows: Float32Array | Float64Array, width: number, labels: readonly string[], folds: readonly number[], groups: readonly number[] = labels.map((_, i) => i), seed = 1): ProbeAccuracy {
  const n = labels.length;
  // products of the rows, computed once for every fold and labelling
  const gram = rowProducts({ data: rows, rows: n, width });
  const shuffled = shuffles(labels, groups, PROBE_SHUFFLES, seed);
  const correct = new Float64Array(1 + shuffled.length);
  let tested = 0;
  for (const fold of new Set(folds)) {
    const train = folds.flatMap((f, i) => (f === fold ? [] : [i]));
    const test = folds.flatMap((f, i) => (f === fold ? [i] : []));
    if (train.length === 0) continue;
    tested += test.length;
    const predictions = predictFold(gram, n, train, test, [labels, ...shuffled]);
    predictions.forEach((predicted, q) => test.forEach((i, k) => (correct[q]! += predicted[k] === (q === 0 ? labels : shuffled[q - 1]!)[i] ? 1 : 0)));
  }
  const accuracy = tested > 0 ? correct[0]! / tested : Number.NaN;
  const chanceAccuracies = Array.from(correct.subarray(1), (c) => c / (tested || 1)).sort((a, b) => a - b);
  return {
    accuracy,
    chance: chanceAccuracies.reduce((a, b) => a + b, 0) / (chanceAccuracies.length || 1),
    chance95: chanceAccuracies[Math.min(chanceAccuracies.length - 1, Math.floor(0.95 * chanceAccuracies.length))] ?? Number.NaN,
    pValue: (1 + chanceAccuracies.filter((a) => a >= accuracy).length) / (1 + chanceAccuracies.length),
    rows: n,
    classes: new Set(labels).size,
  };
}

/** Labellings with the labels of whole groups permuted, seeded. */
function shuffles(labels: readonly string[], groups: readonly number[], count: number, seed: number): string[][] {
  const ids = [...new Set(groups)];
  const labelOf = new Map(ids.map((g) => [g, labels[groups.indexOf(g)]!]));
  const random = randomLcg(seed);
  return Array.from({ length: count }, () => {
    const order = [...ids];
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    const moved = new Map(ids.map((g, k) => [g, labelOf.get(order[k]!)!]));
    return groups.map((g) => moved.get(g)!);
  });
}

/** One fold: the ridge system of the training rows solved once for every labelling, and the test rows' predicted labels per labelling. */
function predictFold(gram: Float64Array, n: number, train: readonly number[], test: readonly number[], labellings: ReadonlyArray<readonly string[]>): string[][] {
  const t = train.length;
  // centring on the training rows, in the dual: K(i,j) − m_i − m_j + m̄
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) for (const k of train) m[i]! += gram[i * n + k]! / t;
  const mean = train.reduce((s, k) => s + m[k]!, 0) / t;
  const centred = (i: number, j: number): number => gram[i * n + j]! - m[i]! - m[j]! + mean;
  const system = new Matrix(t, t);
  let trace = 0;
  train.forEach((i, r) => train.forEach((j, c) => system.set(r, c, centred(i, j))));
  for (let r = 0; r < t; r++) trace += system.get(r, r);
  const ridge = (RIDGE * trace) / t || 1e-12;
  for (let r = 0; r < t; r++) system.set(r, r, system.get(r, r) + ridge);
  // one block of one-hot columns per labelling, centred: the intercept is each class's share of the training rows
  const blocks = labellings.map((labels) => {
    const classes = [...new Set(train.map((i) => labels[i]!))].sort();
    return { classes, prior: classes.map((c) => train.filter((i) => labels[i] === c).length / t) };
  });
  const width = blocks.reduce((s, b) => s + b.classes.length, 0);
  const targets = new Matrix(t, width);
  let column = 0;
  blocks.forEach(({ classes, prior }, q) => {
    train.forEach((i, r) => classes.forEach((c, k) => targets.set(r, column + k, (labellings[q]![i] === c ? 1 : 0) - prior[k]!)));
    column += classes.length;
  });
  const dual = solve(system, targets);
  const kernel = test.map((i) => train.map((j) => centred(i, j)));
  column = 0;
  return blocks.map(({ classes, prior }) => {
    const predicted = kernel.map((row) => {
      let best = 0;
      let bestScore = -Infinity;
      classes.forEach((_, c) => {
        let score = prior[c]!;
        row.forEach((v, r) => (score += v * dual.get(r, column + c)));
        if (score > bestScore) [best, bestScore] = [c, score];
      });
      return classes[best]!;
    });
    column += classes.length;
    return predicted;
  });
}
