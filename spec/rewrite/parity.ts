import assert from 'node:assert/strict';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import type { Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { openAttentionSession, openReducedSession } from '../../lib/runtime/session.js';
import { SINK_MODES } from '../../lib/measure/attention-share.js';
import { measureReduced, reductionLayout, widenInputs } from '../../lib/measure/measure-reduced.js';
import { measureSequence, type SequenceMeasures } from '../../lib/measure/measure-sequence.js';
import { referenceSpans, type ReferenceSpan } from '../../lib/reference/reference-spans.js';
import { QUERY_SETS } from '../../lib/measure/query-set.js';
import { rolloutConceptMass } from '../../lib/measure/rollout.js';
import type { TokenSpan } from '../../lib/tokenize/align-spans.js';
import { maxAbsDifference, maxRelativeDifference } from '../helpers.js';
import { resolveAnalysis } from '../../lib/options/analysis-options.js';

// Parity of the two ways of measuring a checkpoint: inside the graph, and from its full maps.

/** Key sets as 0/1 columns: every key, the sink, then the given token sets. */
function keySetColumns(T: number, sets: number[][]): { columns: Float32Array; count: number } {
  const all = [Array.from({ length: T }, (_, j) => j), [0], ...sets];
  const columns = new Float32Array(T * all.length);
  all.forEach((set, k) => set.forEach((j) => (columns[j * all.length + k] = 1)));
  return { columns, count: all.length };
}

const CONCEPT = [3, 4];
const OTHER = [1, 6, 7];

/** The in-graph tensors (masses, column sums, rollout, entropy, head means) against the same computed from the full maps, within `tolerance`. */
export async function checkTensorsAgainstFullMaps(checkpoint: Checkpoint, texts: string[], readScores = false, tolerance = 1e-5): Promise<void> {
  const tokenizer = await loadTokenizer(checkpoint.dir);
  const ids = await Promise.all(texts.map(async (t) => (await tokenizer.encode(t)).ids));
  const full = await openAttentionSession(checkpoint);
  const maps = await full.run(ids);
  await full.release();
  const layers = checkpoint.graph.attention.length;
  const reduced = await openReducedSession(checkpoint, { entropy: true, meanLayers: [0, layers - 1], columnSums: 'weighted', rolloutResidual: 0.5, readScores });
  const sets = ids.map((s) => keySetColumns(s.length, [CONCEPT, OTHER]));
  const results = await reduced.run(
    ids,
    sets.map((s, k) => ({ keySets: s.columns, rollout: Float32Array.from({ length: ids[k]!.length }, (_, j) => (CONCEPT.includes(j) ? 1 : 0)) })),
  );
  await reduced.release();
  results.forEach((result, s) => {
    const attention = maps[s]!;
    const [, heads = 0, T = 0] = attention.dims;
    const K = sets[s]!.count;
    const mass = new Float32Array(layers * heads * T * K);
    const entropy = new Float32Array(layers * heads * T);
    const columnSums = new Float64Array(layers * heads * 2 * T);
    for (let m = 0; m < layers * heads; m++) {
      for (let i = 0; i < T; i++) {
        const row = attention.data.subarray((m * T + i) * T, (m * T + i + 1) * T);
        for (let k = 0; k < K; k++) for (let j = 0; j < T; j++) mass[(m * T + i) * K + k]! += row[j]! * sets[s]!.columns[j * K + k]!;
        entropy[m * T + i] = -row.reduce((acc, p) => acc + (p > 0 ? p * Math.log(p) : 0), 0);
        const rest = row.reduce((acc, p) => acc + p, 0) - row[0]!;
        for (let j = 0; j < T; j++) {
          columnSums[(m * 2) * T + j]! += row[j]!;
          if (i > 0) columnSums[(m * 2 + 1) * T + j]! += row[j]! / rest;
        }
      }
    }
    assert.deepEqual(result.mass.dims, [layers, heads, T, K]);
    assert.ok(maxAbsDifference(result.mass.data, mass) < tolerance, `mass ${maxAbsDifference(result.mass.data, mass)}`);
    assert.ok(maxAbsDifference(result.entropy!.data, entropy) < tolerance, `entropy ${maxAbsDifference(result.entropy!.data, entropy)}`);
    // Sums over every query: compared relative to their size. The sink's column of the
    // renormalised rows is never read (the sink is not a key there), and is skipped.
    for (let m = 0; m < layers * heads; m++) columnSums[(m * 2 + 1) * T] = result.columnSums!.data[(m * 2 + 1) * T]!;
    assert.ok(maxRelativeDifference(result.columnSums!.data, columnSums) < tolerance, `column sums ${maxRelativeDifference(result.columnSums!.data, columnSums)}`);
    const rollout = rolloutConceptMass(attention, CONCEPT, 0.5);
    assert.deepEqual(result.rollout!.dims, [layers, T, 1]);
    assert.ok(maxAbsDifference(result.rollout!.data, rollout.data) < tolerance, `rollout ${maxAbsDifference(result.rollout!.data, rollout.data)}`);
    for (const l of [0, layers - 1]) {
      const mean = new Float32Array(T * T);
      for (let h = 0; h < heads; h++) for (let k = 0; k < T * T; k++) mean[k]! += attention.data[(l * heads + h) * T * T + k]! / heads;
      assert.ok(maxAbsDifference(result.means.get(l)!.data, mean) < tolerance);
    }
  });
}

/** Spans over the tokens of a sequence: a two-part concept with labels, as the concept files give them. */
function labelledSpans(T: number): TokenSpan[] {
  return [
    { start: 0, end: 0, label: 'duty', tokens: [2, 3] },
    { start: 0, end: 0, label: 'breach', tokens: [T - 4, T - 3] },
  ];
}

function assertSameMeasures(fromMaps: SequenceMeasures, fromGraph: SequenceMeasures, tolerance: number): void {
  assert.deepEqual(fromGraph.references, fromMaps.references);
  assert.equal(fromGraph.measures.length, fromMaps.measures.length);
  fromMaps.measures.forEach((expected, k) => {
    const actual = fromGraph.measures[k]!;
    const what = `${expected.target} ${expected.querySet} ${expected.sink}`;
    assert.deepEqual([actual.target, actual.querySet, actual.sink, actual.queries], [expected.target, expected.querySet, expected.sink, expected.queries], what);
    for (const field of ['share', 'entropy', 'rollout'] as const) {
      const difference = maxRelativeDifference(actual[field], expected[field]);
      assert.ok(difference < tolerance, `${what} ${field}: ${difference}`);
    }
  });
  fromMaps.referenceShares.forEach((expected, k) => {
    const actual = fromGraph.referenceShares[k]!;
    assert.deepEqual([actual.querySet, actual.sink], [expected.querySet, expected.sink]);
    const difference = maxRelativeDifference(actual.share, expected.share);
    assert.ok(difference < tolerance, `reference shares ${expected.querySet} ${expected.sink}: ${difference}`);
  });
  assert.deepEqual(fromGraph.components?.labels, fromMaps.components?.labels);
  assert.ok(maxRelativeDifference(fromGraph.components!.perLayer, fromMaps.components!.perLayer) < tolerance);
}

const EVERY_VARIANT = { ...resolveAnalysis().measure, querySets: [...QUERY_SETS], sinks: [...SINK_MODES] };

/** Control runs of the targets' widths, as a run's plan gives them (at most six of each width). */
const referencesOf = (T: number): ReferenceSpan[] => referenceSpans(T, new Set(labelledSpans(T).flatMap((s) => s.tokens)), [], [1, 2], 0, { controlsPerWidth: 6, seed: 3 });

/** Every share, control share, entropy, rollout and component matrix, measured inside the graph and from the full maps, within `tolerance`. */
export async function checkMeasuresAgainstFullMaps(checkpoint: Checkpoint, texts: string[], columnSums: 'plain' | 'weighted' = 'weighted', tolerance = 1e-5): Promise<void> {
  const options = columnSums === 'plain' ? { ...EVERY_VARIANT, sinks: ['include' as const] } : EVERY_VARIANT;
  const tokenizer = await loadTokenizer(checkpoint.dir);
  const ids = await Promise.all(texts.map(async (t) => (await tokenizer.encode(t)).ids));
  const full = await openAttentionSession(checkpoint);
  const maps = await full.run(ids);
  await full.release();
  const layouts = ids.map((s) => reductionLayout(s.length, labelledSpans(s.length), options, referencesOf(s.length)));
  const K = Math.max(...layouts.map((l) => l.keySetCount));
  const R = Math.max(...layouts.map((l) => l.rolloutCount));
  const reduced = await openReducedSession(checkpoint, { entropy: true, meanLayers: [], columnSums, rolloutResidual: 0.5 });
  // Plain column sums hold only for unpadded passes: one sequence at a time.
  const results =
    columnSums === 'plain'
      ? await Promise.all(ids.map(async (s, k) => (await reduced.run([s], [layouts[k]!.inputs]))[0]!))
      : await reduced.run(ids, layouts.map((l) => widenInputs(l, K, R)));
  await reduced.release();
  results.forEach((result, s) => {
    assertSameMeasures(measureSequence(maps[s]!, labelledSpans(ids[s]!.length), options, referencesOf(ids[s]!.length)), measureReduced(result, layouts[s]!, options), tolerance);
  });
}

