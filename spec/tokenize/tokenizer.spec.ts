import assert from 'node:assert/strict';
import { LegalAttnError } from '../../lib/errors.js';
import { loadTokenizer, tokenizeSequence, type CheckpointTokenizer } from '../../lib/tokenize/tokenizer.js';
import { modelDir, referenceIndex } from '../helpers.js';

describe('the checkpoint tokenizer', () => {
  for (const model of ['base', 'base-dynamo'] as const) {
    it(`gives the ids, tokens and offsets of the Python tokenizers library on every reference probe (${model})`, async () => {
      const tokenizer = await loadTokenizer(modelDir(model));
      for (const probe of (await referenceIndex()).probes) {
        const tokenization = await tokenizer.encode(probe.text);
        assert.deepEqual(Array.from(tokenization.ids, Number), probe.ids, probe.id);
        assert.deepEqual(tokenization.tokens, probe.tokens, probe.id);
        assert.deepEqual(tokenization.offsets, probe.offsets, probe.id);
      }
    });
  }

  it('puts <s> in front, as Mistral expects', async () => {
    const tokenization = await (await loadTokenizer(modelDir('base'))).encode('hearsay');
    assert.equal(tokenization.tokens[0], '<s>');
    assert.equal(tokenization.ids[0], 1n);
  });

  it('maps the reference spans onto their tokens', async () => {
    const tokenizer = await loadTokenizer(modelDir('base'));
    const probes = (await referenceIndex()).probes;
    const consideration = probes.find((p) => p.id === 'consideration')!;
    const aligned = await tokenizeSequence(tokenizer, consideration.text, consideration.spans.map(([start, end]) => ({ start, end })), 'probe');
    assert.deepEqual(aligned.spans[0]?.tokens, [18, 19]);
    assert.deepEqual(aligned.spans[0]?.tokens.map((t) => aligned.tokens[t]), ['▁consider', 'ation,']);

    const mensRea = probes.find((p) => p.id === 'mens-rea')!;
    const both = await tokenizeSequence(tokenizer, mensRea.text, mensRea.spans.map(([start, end]) => ({ start, end })), 'probe');
    assert.deepEqual(both.spans.map((s) => s.tokens.map((t) => both.tokens[t]).join('')), ['▁mens▁rea,', '▁guilty▁mind']);
  });

  it('counts offsets in code points, so spans after an emoji still land on their word', async () => {
    const tokenizer = await loadTokenizer(modelDir('base'));
    const text = '😀 under res judicata';
    const start = Array.from(text.slice(0, text.indexOf('res'))).length;
    const aligned = await tokenizeSequence(tokenizer, text, [{ start, end: start + 'res judicata'.length }], 'x');
    const covered = aligned.spans[0]!.tokens.map((t) => aligned.tokens[t]).join('');
    assert.equal(covered.replace(/▁/g, ' ').trim(), 'res judicata');
    assert.ok(aligned.spans[0]!.tokens.every((t) => aligned.tokens[t] !== '<0xF0>'));
  });

  it('rejects a span that covers no token, naming where it is', async () => {
    const gappy: CheckpointTokenizer = {
      file: 'tokenizer.json',
      vocabSize: 3,
      encode: async (text) => ({ text, ids: BigInt64Array.of(1n, 2n), tokens: ['<s>', '▁ab'], offsets: [[0, 0], [0, 2]] }),
    };
    await assert.rejects(
      tokenizeSequence(gappy, 'ab  ', [{ start: 3, end: 4 }], 'concepts/x.yaml:7: sequence s'),
      (error: unknown) => error instanceof LegalAttnError && /^concepts\/x\.yaml:7: sequence s: the span \[3, 4\) covers no token/.test(error.message),
    );
  });
});
