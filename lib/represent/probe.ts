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
  // every labelling as indices into the labels in sorted order
  const names = [...new Set(labels)].sort();
  const code = new Map(names.map((c, k) => [c, k]));
  const codings = [labels, ...shuffled].map((l) => Int32Array.from(l, (c) => code.get(c)!));
  const correct = new Float64Array(codings.length);
  let tested = 0;
  for (const fold of new Set(folds)) {
    const train = folds.flatMap((f, i) => (f === fold ? [] : [i]));
    const test = folds.flatMap((f, i) => (f === fold ? [i] : []));
    if (train.length === 0) continue;
    tested += test.length;
    const predictions = predictFold(gram, n, train, test, codings, names.length);
    predictions.forEach((predicted, q) => test.forEach((i, k) => (correct[q]! += predicted[k] === codings[q]![i] ? 1 : 0)));
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

/**
 * Scores within this share of (1 + Σ_r |W[q,r]|) of the best are ties: equal rows with
 * different labels (a concept's rows at the embeddings, under shuffled labels) give
 * scores equal but for rounding, and rounding must not pick the class.
 */
const TIE = 1e-9;

/**
 * One fold: the ridge system of the training rows factored once (Cholesky: it is the
 * centred Gram plus a positive ridge), and W = K_test (K + λI)⁻¹, the test rows'
 * weights on the training rows, formed once for every labelling. A labelling's dual
 * coefficients are (K + λI)⁻¹ (Y − 1 priorᵀ) on its centred one-hot targets Y, so the
 * score of class c on test row q is prior_c + Σ_{r in c} W[q,r] − prior_c Σ_r W[q,r]:
 * O(test × train) per labelling instead of a solve. Of tied best scores, the first
 * class in sorted order wins.
 */
function predictFold(gram: Float64Array, n: number, train: readonly number[], test: readonly number[], labellings: readonly Int32Array[], labelCount: number): Int32Array[] {
  const t = train.length;
  const u = test.length;
  // centring on the training rows, in the dual: K(i,j) − m_i − m_j + m̄
  const m = new Float64Array(n);
  for (let i = 0; i < n; i++) for (const k of train) m[i]! += gram[i * n + k]! / t;
  const mean = train.reduce((s, k) => s + m[k]!, 0) / t;
  const centred = (i: number, j: number): number => gram[i * n + j]! - m[i]! - m[j]! + mean;
  const system = new Float64Array(t * t);
  let trace = 0;
  train.forEach((i, r) => train.forEach((j, c) => (system[r * t + c] = centred(i, j))));
  for (let r = 0; r < t; r++) trace += system[r * t + r]!;
  const ridge = (RIDGE * trace) / t || 1e-12;
  for (let r = 0; r < t; r++) system[r * t + r]! += ridge;
  const weights = new Float64Array(u * t);
  test.forEach((i, q) => train.forEach((j, r) => (weights[q * t + r] = centred(i, j))));
  // W row by row: (K + λI) w_q = k_q; without spread the system may not be positive definite, and a general solve takes it
  const lower = cholesky(system, t);
  if (lower) for (let q = 0; q < u; q++) choleskySolve(lower, t, weights.subarray(q * t, (q + 1) * t));
  else {
    const solved = solve(new Matrix(Array.from({ length: t }, (_, r) => Array.from(system.subarray(r * t, (r + 1) * t)))), new Matrix(Array.from({ length: u }, (_, q) => Array.from(weights.subarray(q * t, (q + 1) * t)))).transpose());
    for (let q = 0; q < u; q++) for (let r = 0; r < t; r++) weights[q * t + r] = solved.get(r, q);
  }
  const index = new Int32Array(labelCount);
  const classes = new Int32Array(labelCount);
  const classOf = new Int32Array(t);
  const prior = new Float64Array(labelCount);
  const sums = new Float64Array(labelCount);
  return labellings.map((labels) => {
    // the labelling's training labels in sorted order, each training row's class among them, their priors
    index.fill(-1);
    for (const i of train) index[labels[i]!] = 0;
    let count = 0;
    for (let label = 0; label < labelCount; label++) {
      if (index[label] !== 0) continue;
      classes[count] = label;
      index[label] = count++;
    }
    prior.fill(0);
    for (let r = 0; r < t; r++) prior[(classOf[r] = index[labels[train[r]!]!]!)]! += 1 / t;
    const predicted = new Int32Array(u);
    for (let q = 0; q < u; q++) {
      sums.fill(0);
      let total = 0;
      let scale = 1;
      for (let r = 0; r < t; r++) {
        const w = weights[q * t + r]!;
        sums[classOf[r]!]! += w;
        total += w;
        scale += Math.abs(w);
      }
      let best = 0;
      let bestScore = -Infinity;
      for (let c = 0; c < count; c++) {
        const score = prior[c]! + sums[c]! - prior[c]! * total;
        if (score > bestScore + TIE * scale) [best, bestScore] = [c, score];
      }
      predicted[q] = classes[best]!;
    }
    return predicted;
  });
}

/** The lower Cholesky factor of a symmetric t × t matrix (its lower triangle read), row-major; undefined where it is not positive definite. */
function cholesky(a: Float64Array, t: number): Float64Array | undefined {
  const lower = new Float64Array(t * t);
  for (let r = 0; r < t; r++) {
    for (let c = 0; c <= r; c++) {
      let v = a[r * t + c]!;
      for (let k = 0; k < c; k++) v -= lower[r * t + k]! * lower[c * t + k]!;
      if (r === c) {
        if (!(v > 0)) return undefined;
        lower[r * t + r] = Math.sqrt(v);
      } else lower[r * t + c] = v / lower[c * t + c]!;
    }
  }
  return lower;
}

/** Solves L Lᵀ x = b in place. */
function choleskySolve(lower: Float64Array, t: number, x: Float64Array): void {
  for (let r = 0; r < t; r++) {
    let v = x[r]!;
    for (let k = 0; k < r; k++) v -= lower[r * t + k]! * x[k]!;
    x[r] = v / lower[r * t + r]!;
  }
  for (let r = t - 1; r >= 0; r--) {
    let v = x[r]!;
    for (let k = r + 1; k < t; k++) v -= lower[k * t + r]! * x[k]!;
    x[r] = v / lower[r * t + r]!;
  }
}
