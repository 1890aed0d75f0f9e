import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { LegalAttnError } from '../../lib/errors.js';
import { loadTokenizer, tokenizeSequence } from '../../lib/tokenize/tokenizer.js';
import { run, temporaryFolder } from '../helpers.js';
import { realTokenizer, realTokenizerFolder } from './fixture-tokenizers.js';

// Llama-2's default system prompt and chat template as transformers wrote them
// (LlamaTokenizer.default_chat_template and DEFAULT_SYSTEM_PROMPT of
// models/llama/tokenization_llama.py, v4.31 to v4.42), with the two substitutions it made
// for use_default_system_prompt=True. The prompt is the one of Meta's llama repository
// (llama/generation.py).
const LLAMA2_SYSTEM_PROMPT =
  "You are a helpful, respectful and honest assistant. Always answer as helpfully as possible, while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature.\n\nIf a question does not make any sense, or is not factually coherent, explain why instead of answering something not correct. If you don't know the answer to a question, please don't share false information.";
const LLAMA2_TEMPLATE = [
  "{% if messages[0]['role'] == 'system' %}",
  "{% set loop_messages = messages[1:] %}",
  "{% set system_message = messages[0]['content'] %}",
  "{% elif USE_DEFAULT_PROMPT == true and not '<<SYS>>' in messages[0]['content'] %}",
  '{% set loop_messages = messages %}',
  "{% set system_message = 'DEFAULT_SYSTEM_MESSAGE' %}",
  '{% else %}',
  '{% set loop_messages = messages %}',
  '{% set system_message = false %}',
  '{% endif %}',
  '{% for message in loop_messages %}',
  "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}",
  "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}",
  '{% endif %}',
  '{% if loop.index0 == 0 and system_message != false %}',
  "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}",
  '{% else %}',
  "{% set content = message['content'] %}",
  '{% endif %}',
  "{% if message['role'] == 'user' %}",
  "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}",
  "{% elif message['role'] == 'system' %}",
  "{{ '<<SYS>>\\n' + content.strip() + '\\n<</SYS>>\\n\\n' }}",
  "{% elif message['role'] == 'assistant' %}",
  "{{ ' '  + content.strip() + ' ' + eos_token }}",
  '{% endif %}',
  '{% endfor %}',
]
  .join('')
  .replace('USE_DEFAULT_PROMPT', 'true')
  .replace('DEFAULT_SYSTEM_MESSAGE', LLAMA2_SYSTEM_PROMPT.replace(/\n/g, '\\n').replace(/'/g, "\\'"));

/**
 * A folder with Phi-3's tokenizer.json (Llama-2's 32000 pieces and Phi-3's chat tokens)
 * and, as its tokenizer_config.json, Phi-3's own or one with another chat template.
 */
async function templateFolder(chatTemplate?: string): Promise<string> {
  const phi3 = await realTokenizerFolder('sp-bpe-bytefallback');
  const dir = path.join(await temporaryFolder(), 'checkpoint');
  await mkdir(dir);
  await copyFile(path.join(phi3, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  const config = JSON.parse(await readFile(path.join(phi3, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const own = chatTemplate ? { ...config, chat_template: chatTemplate, bos_token: '<s>', eos_token: '</s>' } : config;
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(own));
  return dir;
}

const PHI3 = { template: 'Phi-3', before: '<|user|>\n', after: '<|end|>\n<|endoftext|>' };
const LLAMA2 = { template: 'Llama-2', before: `<s>[INST] <<SYS>>\n${LLAMA2_SYSTEM_PROMPT}\n<</SYS>>\n\n`, after: ' [/INST]' };
const squash = (text: string): string => text.replace(/\s/g, '');

describe('--chat-template places the text where the template puts the message', () => {
  const cases = [
    { ...PHI3, text: 'user', where: 'in its <|user|> tag' },
    { ...LLAMA2, text: 'INST', where: 'in its [INST] tags' },
    { ...LLAMA2, text: 'honest assistant', where: 'in its default system prompt' },
  ];

  for (const { template, before, after, text, where } of cases) {
    it(`marks "${text}" on its own tokens under ${template}'s template, though the text is also ${where}`, async () => {
      const dir = await templateFolder(template === 'Llama-2' ? LLAMA2_TEMPLATE : undefined);
      const aligned = await tokenizeSequence(await loadTokenizer(dir, { chatTemplate: true }), text, [{ start: 0, end: text.length }], 'x');
      assert.equal(aligned.templated, before + text + after);
      const span = aligned.spans[0]!.tokens;
      const ids = Array.from(aligned.ids, Number);
      const phi3 = await realTokenizer('sp-bpe-bytefallback');
      assert.equal((await phi3.decode(span.map((t) => ids[t]!), false)).trim(), text);
      // the span's tokens are the message's: all before them decode to the template's part before the message
      // (white space aside: decoding puts a space after <s>)
      assert.equal(squash(await phi3.decode(ids.slice(0, span[0]), false)), squash(before));
      // the template's own tokens, its markup and its system prompt, carry no characters of the text
      aligned.offsets.forEach((offset, t) => {
        if (!span.includes(t)) assert.deepEqual(offset, [0, 0], `token ${t} ${aligned.tokens[t]}`);
      });
    });
  }

  it('marks the text on its own tokens through the command line too (trace --text "[[user]]" under Phi-3)', async () => {
    const root = await temporaryFolder();
    const phi3 = await realTokenizerFolder('sp-bpe-bytefallback');
    const model = path.join(root, 'model');
    const synth = await run('--quiet', 'synth', '--out', model, '--layers', '1', '--heads', '2', '--kv-heads', '1', '--hidden', '16', '--max-positions', '64', '--tokenizer', path.join(phi3, 'tokenizer.json'));
    assert.equal(synth.code, 0, synth.err);
    await copyFile(path.join(phi3, 'tokenizer_config.json'), path.join(model, 'tokenizer_config.json'));
    const out = path.join(root, 'trace');
    const traced = await run('--quiet', 'trace', '--model', model, '--text', '[[user]]', '--out', out, '--chat-template', '--maps', 'none');
    assert.equal(traced.code, 0, traced.err);
    const tokens = JSON.parse(await readFile(path.join(out, 'tokens.json'), 'utf8')) as { tokens: string[]; offsets: number[][]; spans: Array<{ tokens: number[] }> };
    // <|user|> and <|end|> take the newline after them (rstrip); "user" gets the ▁ of Phi-3's normaliser
    assert.deepEqual(tokens.tokens, ['<|user|>\n', '▁user', '<|end|>\n', '<|endoftext|>']);
    assert.deepEqual(tokens.offsets, [[0, 0], [0, 4], [0, 0], [0, 0]]);
    assert.deepEqual(tokens.spans[0]!.tokens, [1]);
  });

  const refusal = (pattern: RegExp) => (error: unknown) => error instanceof LegalAttnError && pattern.test(error.message) && !error.message.includes('\n');

  it('refuses a template that writes the message twice or changed, naming tokenizer_config.json', async () => {
    for (const changing of ["{{ messages[0]['content'] }} / {{ messages[0]['content'] }}", "{{ messages[0]['content'] | upper }}"]) {
      await assert.rejects(
        loadTokenizer(await templateFolder(changing), { chatTemplate: true }),
        refusal(/tokenizer_config\.json: the chat_template does not write the message text exactly once, unchanged; .*drop --chat-template\.$/),
      );
    }
  });

  it('refuses a text the template trims, rather than shift every offset after it', async () => {
    const tokenizer = await loadTokenizer(await templateFolder(LLAMA2_TEMPLATE), { chatTemplate: true });
    await assert.rejects(tokenizer.encode(' INST '), refusal(/tokenizer_config\.json: the chat_template changes the message text " INST …" \(trims or rewrites it\); remove leading and trailing white space/));
  });
});
