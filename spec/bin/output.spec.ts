import assert from 'node:assert/strict';
import type { CompareSummary } from '../../lib/commands/compare.js';
import { describeDistribution } from '../../lib/measure/distribution.js';
import { overallLines } from '../../bin/output.js';

/** The overall scope of a comparison of models with one head: its skewness is not defined. */
function oneHead(): Pick<CompareSummary, 'comparison' | 'representations' | 'notes'> {
  const delta = Float64Array.of(0.002);
  const pair = { pair: 'cpt:base', delta, relative: delta, entropyDelta: delta, rolloutDelta: delta, distribution: describeDistribution(delta) };
  const scope = { scope: '*', variant: { target: 'concept', querySet: 'all', sink: 'include' }, sequences: ['a'], skipped: [], unjudged: [], models: [], pairs: [pair] };
  return { comparison: { layers: 1, heads: 1, scopes: [scope], sequences: [], negativeControls: [] }, representations: null, notes: [] } as unknown as Pick<CompareSummary, 'comparison' | 'representations' | 'notes'>;
}

describe('overallLines', () => {
  it('says why the skewness of a one-head model is not defined, and never prints NaN', () => {
    const lines = overallLines(oneHead());
    assert.match(lines, /mean Δ 2\.00e-3, skewness not defined \(1 head; it needs 3 or more\), 100% of heads rose/);
    assert.doesNotMatch(lines, /NaN/);
  });
});
