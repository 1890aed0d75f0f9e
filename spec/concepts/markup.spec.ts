import assert from 'node:assert/strict';
import { parseMarkup } from '../../lib/concepts/markup.js';
import { LegalAttnError } from '../../lib/errors.js';

describe('parseMarkup', () => {
  it('removes [[ ]] and returns the span in plain-text offsets', () => {
    const marked = parseMarkup('supported by [[consideration]], something', 'x');
    assert.equal(marked.text, 'supported by consideration, something');
    assert.deepEqual(marked.spans, [{ start: 13, end: 26 }]);
    assert.equal(marked.text.slice(13, 26), 'consideration');
  });

  it('keeps a component label and drops it from the text', () => {
    const marked = parseMarkup('a [[duty of care|duty]] owed to [[the claimant|claimant]]', 'x');
    assert.equal(marked.text, 'a duty of care owed to the claimant');
    assert.deepEqual(marked.spans, [
      { start: 2, end: 14, label: 'duty' },
      { start: 23, end: 35, label: 'claimant' },
    ]);
  });

  it('counts offsets in code points, as Python does, past characters outside the BMP', () => {
    const marked = parseMarkup('😀 § [[estoppel]]', 'x');
    assert.deepEqual(marked.spans, [{ start: 4, end: 12 }]);
    assert.equal(Array.from(marked.text).slice(4, 12).join(''), 'estoppel');
  });

  for (const [text, problem] of [
    ['an [[open span', 'never closed'],
    ['a [[nested [[span]]]]', 'must not nest'],
    ['an empty [[ ]] span', 'is empty'],
    ['a stray ]] here', 'closes no span'],
    ['a [[term|Bad Label]]', 'kebab-case'],
  ] as const) {
    it(`rejects "${text}" (${problem}) naming where`, () => {
      assert.throws(
        () => parseMarkup(text, 'file.yaml:3'),
        (error: unknown) => error instanceof LegalAttnError && error.code === 'bad-input' && error.message.startsWith('file.yaml:3: ') && error.message.includes(problem),
      );
    });
  }
});
