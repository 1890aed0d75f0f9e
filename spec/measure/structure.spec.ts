import assert from 'node:assert/strict';
import { componentAttention, componentTokens } from '../../lib/measure/component-attention.js';
import { structureAlignment } from '../../lib/measure/structure.js';
import { compareWording } from '../../lib/compare/structure-comparison.js';

// 4×4 attention; component a is token 1, component b tokens 2 and 3
const A4 = Float32Array.of(1, 0, 0, 0, 0.6, 0.4, 0, 0, 0.5, 0.25, 0.25, 0, 0.4, 0.1, 0.2, 0.3);

describe('componentAttention', () => {
  it('is the mean over the queries of a of their mass on b', () => {
    const m = componentAttention(A4, 4, [{ tokens: [1] }, { tokens: [2, 3] }]);
    // a→a 0.4; a→b 0 (causal); b→a (0.25 + 0.1)/2; b→b (0.25 + 0 + 0.2 + 0.3)/2
    assert.deepEqual(Array.from(m, (v) => Math.round(v * 1e6) / 1e6), [0.4, 0, 0.175, 0.375]);
  });
  it('groups span tokens by label, in label order', () => {
    assert.deepEqual(componentTokens([{ start: 0, end: 1, label: 'duty', tokens: [3, 4] }, { start: 2, end: 3, label: 'breach', tokens: [6] }, { start: 4, end: 5, tokens: [8] }, { start: 6, end: 7, label: 'duty', tokens: [9] }]), [
      { label: 'breach', tokens: [6] },
      { label: 'duty', tokens: [3, 4, 9] },
    ]);
  });
});

describe('structureAlignment', () => {
  // three components x, y, z; declared: x–y. Pair values M[a][b] + M[b][a]: x–y 0.5, x–z 0.1, y–z 0.3
  const M = Float64Array.of(0, 0, 0, 0.5, 0, 0, 0.1, 0.3, 0);
  const s = structureAlignment(M, { components: ['x', 'y', 'z'], edges: [['x', 'y']] });
  it('is the mean on declared pairs minus the mean on the others', () => {
    assert.ok(Math.abs(s.declared - 0.5) < 1e-12);
    assert.ok(Math.abs(s.undeclared - 0.2) < 1e-12);
    assert.ok(Math.abs(s.alignment - 0.3) < 1e-12);
  });
  it('ignores the direction of a declared relation', () => {
    assert.equal(structureAlignment(M, { components: ['x', 'y', 'z'], edges: [['y', 'x']] }).alignment, s.alignment);
  });
});

describe('compareWording', () => {
  it('is the share on the legal term minus the share on its plain paraphrase, and its change', () => {
    const shares: Record<string, number> = { 'legal|base': 0.3, 'plain|base': 0.2, 'legal|cpt': 0.25, 'plain|cpt': 0.25 };
    const [w] = compareWording([{ legal: 'legal', plain: 'plain' }], (s, m) => shares[`${s}|${m}`]!, ['base', 'cpt'], [{ after: 'cpt', before: 'base' }]);
    assert.ok(Math.abs(w!.models.base!.contrast! - 0.1) < 1e-12);
    assert.equal(w!.models.cpt!.contrast, 0);
    assert.ok(Math.abs(w!.changes['cpt:base']!.contrastDelta! + 0.1) < 1e-12);
  });
});
