import assert from 'node:assert/strict';
import { compareModels, type MeasuredSequence } from '../../lib/compare/compare.js';
import { measureSequence, type MeasureOptions } from '../../lib/measure/measure-sequence.js';
import { referencePlan } from '../../lib/reference/reference-plan.js';

// Two one-layer, one-head "models" on a 4-token sequence whose concept is token 2.
const base = Float32Array.of(1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.4, 0.3, 0.3, 0, 0.4, 0.2, 0.2, 0.2);
const tuned = Float32Array.of(1, 0, 0, 0, 0.5, 0.5, 0, 0, 0.2, 0.2, 0.6, 0, 0.1, 0.1, 0.6, 0.2);
const options: MeasureOptions = { querySets: ['all'], sinks: ['include'], rolloutResidual: 0.5 };
// "<s> a b c": the concept is "b"
const input = { ids: [1, 10, 11, 12], text: 'a b c', offsets: [[0, 0], [0, 1], [1, 3], [3, 5]] as Array<[number, number]>, annotated: [2], targetWidths: [1], legal: true };
const plan = referencePlan([input, input], 'not read in this spec', { controlsPerWidth: 10, seed: 1 });
const measured = (concept: string, sequence: string, index: number): MeasuredSequence => ({
  concept,
  sequence,
  index,
  byModel: {
    base: measureSequence({ data: base, dims: [1, 1, 4, 4] }, [{ start: 2, end: 3, tokens: [2] }], options, plan.sequences[index]!.spans),
    tuned: measureSequence({ data: tuned, dims: [1, 1, 4, 4] }, [{ start: 2, end: 3, tokens: [2] }], options, plan.sequences[index]!.spans),
  },
});

describe('compareModels', () => {
  const sequences = [measured('c', 's1', 0), measured('c', 's2', 1)];
  const compareOptions = { models: ['base', 'tuned'], seed: 1, alpha: 0.05, references: plan };
  const comparison = compareModels(sequences, { ...compareOptions, pairs: [{ after: 'tuned', before: 'base' }] });

  it('gives the change of share Δ = s_after − s_before', () => {
    // base: (0 + 0 + 0.3 + 0.2) / 4 = 0.125; tuned: (0 + 0 + 0.6 + 0.6) / 4 = 0.3
    const scope = comparison.scopes.find((s) => s.scope === 'c')!;
    assert.ok(Math.abs(scope.models[0]!.share[0]! - 0.125) < 1e-6);
    assert.ok(Math.abs(scope.pairs[0]!.delta[0]! - 0.175) < 1e-6);
    assert.ok(Math.abs(scope.pairs[0]!.relative[0]! - 1.4) < 1e-6);
  });

  it('measures the reference spans the plan gives, and judges nothing with too few control runs of its class', () => {
    // runs of width 1 away from the concept and the sink, then the words "a" and "c"
    assert.deepEqual(sequences[0]!.byModel.base!.references, [{ kind: 'control', tokens: [1] }, { kind: 'control', tokens: [3] }, { kind: 'word', tokens: [1], word: 'a' }, { kind: 'word', tokens: [3], word: 'c' }]);
    // control shares by hand: token 1 gets (0 + 0.5 + 0.3 + 0.2) / 4 in base
    assert.ok(Math.abs(sequences[0]!.byModel.base!.referenceShares[0]!.share[0]! - 0.25) < 1e-6);
    const scope = comparison.scopes.find((s) => s.scope === 'c')!;
    assert.equal(scope.pairs[0]!.chance, undefined);
    assert.match(scope.pairs[0]!.untested!, /enough control runs of its class/);
    assert.deepEqual(scope.unjudged, ['c/s1', 'c/s2']);
  });

  it('turns Δ around when the pair is turned around', () => {
    const reversed = compareModels(sequences, { ...compareOptions, pairs: [{ after: 'base', before: 'tuned' }] });
    assert.equal(reversed.scopes[0]!.pairs[0]!.delta[0], -comparison.scopes[0]!.pairs[0]!.delta[0]!);
  });

  it('has a scope per concept and one over all concepts', () => {
    assert.deepEqual(comparison.scopes.map((s) => s.scope), ['c', '*']);
    assert.deepEqual(comparison.scopes[1]!.sequences, ['c/s1', 'c/s2']);
  });
});
