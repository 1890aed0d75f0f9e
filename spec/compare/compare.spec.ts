import assert from 'node:assert/strict';
import { compareModels, type MeasuredSequence } from '../../lib/compare/compare.js';
import { measureSequence, type MeasureOptions } from '../../lib/measure/measure-sequence.js';

// Two one-layer, one-head "models" on a 4-token sequence whose concept is token 2.
const base = Float32Array.of(1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.4, 0.3, 0.3, 0, 0.4, 0.2, 0.2, 0.2);
const tuned = Float32Array.of(1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.2, 0.2, 0.6, 0, 0.1, 0.1, 0.6, 0.2);
const options: MeasureOptions = { querySets: ['all'], sinks: ['include'], controls: { maxControls: 10, seed: 1 }, rolloutResidual: 0.5 };
const measured = (concept: string, sequence: string): MeasuredSequence => ({
  concept,
  sequence,
  byModel: {
    base: measureSequence({ data: base, dims: [1, 1, 4, 4] }, [{ start: 0, end: 1, tokens: [2] }], options),
    tuned: measureSequence({ data: tuned, dims: [1, 1, 4, 4] }, [{ start: 0, end: 1, tokens: [2] }], options),
  },
});

describe('compareModels', () => {
  const sequences = [measured('c', 's1'), measured('c', 's2')];
  const comparison = compareModels(sequences, { models: ['base', 'tuned'], pairs: [{ after: 'tuned', before: 'base' }], permutations: 100, seed: 1, alpha: 0.05 });

  it('gives the change of share Δ = s_after − s_before', () => {
    // base: (0 + 0 + 0.3 + 0.2) / 4 = 0.125; tuned: (0 + 0 + 0.6 + 0.6) / 4 = 0.3
    const scope = comparison.scopes.find((s) => s.scope === 'c')!;
    assert.ok(Math.abs(scope.models[0]!.share[0]! - 0.125) < 1e-6);
    assert.ok(Math.abs(scope.pairs[0]!.delta[0]! - 0.175) < 1e-6);
    assert.ok(Math.abs(scope.pairs[0]!.relative[0]! - 1.4) < 1e-6);
  });

  it('measures control spans of the concept\'s width away from it and from the sink, and gives no baseline with too few', () => {
    const scope = comparison.sequences[0]!;
    assert.deepEqual(sequences[0]!.byModel.base!.controlSpans.concept, [[1], [3]]);
    // two controls cannot give a position-matched baseline (four neighbours at least)
    assert.equal(scope.pairs[0]!.chance, undefined);
  });

  it('turns Δ around when the pair is turned around', () => {
    const reversed = compareModels(sequences, { models: ['base', 'tuned'], pairs: [{ after: 'base', before: 'tuned' }], permutations: 100, seed: 1, alpha: 0.05 });
    assert.equal(reversed.scopes[0]!.pairs[0]!.delta[0], -comparison.scopes[0]!.pairs[0]!.delta[0]!);
  });

  it('has a scope per concept and one over all concepts', () => {
    assert.deepEqual(comparison.scopes.map((s) => s.scope), ['c', '*']);
    assert.deepEqual(comparison.scopes[1]!.sequences, ['c/s1', 'c/s2']);
  });
});
