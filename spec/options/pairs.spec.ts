import assert from 'node:assert/strict';
import { defaultPairs, pairName, parsePairs } from '../../lib/options/pairs.js';
import { LegalAttnError } from '../../lib/errors.js';

describe('model pairs', () => {
  it('default to cpt:base, ift:cpt, ift:base for three checkpoints', () => {
    assert.deepEqual(defaultPairs(['base', 'cpt', 'ift']).map(pairName), ['cpt:base', 'ift:cpt', 'ift:base']);
    assert.deepEqual(defaultPairs(['a', 'b']).map(pairName), ['b:a']);
  });
  it('are parsed from AFTER:BEFORE lists', () => {
    assert.deepEqual(parsePairs('ift:base, cpt:base', ['base', 'cpt', 'ift']), [
      { after: 'ift', before: 'base' },
      { after: 'cpt', before: 'base' },
    ]);
  });
  for (const [text, problem] of [
    ['cpt:nope', /names nope, which is not one of the models \(base, cpt, ift\)/],
    ['cpt', /is not a pair; write AFTER:BEFORE/],
    ['cpt:cpt', /compares a model with itself/],
    [',', /--pairs is empty/],
  ] as const) {
    it(`refuse "${text}"`, () =>
      assert.throws(() => parsePairs(text, ['base', 'cpt', 'ift']), (e: unknown) => e instanceof LegalAttnError && problem.test(e.message)));
  }
});
