import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import type { Tokenizer } from 'tokenizers';
import { readNpy } from '../../lib/io/npy.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { run, temporaryFolder } from '../helpers.js';
import { realTokenizer, realTokenizerFolder, TOKENIZER_KINDS, type TokenizerKind } from './fixture-tokenizers.js';

// Synthetic checkpoints that carry the real tokenizers of spec/fixtures/tokenizers, traced
// and compared through the command line on spans that stress how text becomes tokens.

/** One concept per case, so that compare gives each its own share. */
const CASES = {
  'offset-zero': '[[Consideration]] must move from the promisee.',
  cjk: 'Japanese law calls a contract [[契約]] (keiyaku).',
  emoji: 'The parties sealed the deal with a [[🤝]] and a signature.',
  ligature: 'The court\u2019s [[\uFB01nding]] of fact is \uFB01nal.',
  'combining-accent': 'Under French law a [[de\u0301lit]] is a civil wrong.',
  nbsp: 'The claim falls under [[Article\u00A06]] of the Convention.',
  'section-sign': 'Damages are owed under [[§]] 823 of the BGB.',
  'em-dash': 'The sum was [[liquidated\u2014not penal]] in nature.',
  'curly-quotes': 'The word [[\u201Creasonable\u201D]] is not defined.',
  'inside-word': 'The bargain was un[[conscion]]able and void.',
} as const;
type Case = keyof typeof CASES;
const CASE_IDS = Object.keys(CASES) as Case[];

/**
 * How a span's tokens represent it: they decode to the span's text as written (`exact`),
 * to the text as the tokenizer's normaliser rewrites it (`normalised`), or with the
 * unknown token standing for characters the vocabulary lacks (`unknown`).
 */
type Handling = 'exact' | 'normalised' | 'unknown';

interface Expectation {
  /** The max id + 1 the checkpoint needs, added tokens included (SOURCE.md). */
  vocab: number;
  /** What the tokenizer's normaliser does to a text, written out here in JavaScript. */
  normalise: (text: string) => string;
  /** The unknown token as it decodes, for a tokenizer without byte fallback. */
  unknown?: string;
  /** Cases not `exact`. */
  handling: Partial<Record<Case, Handling>>;
  /** Characters of a span that no token's range covers, white space aside (none by default). */
  uncovered?: Partial<Record<Case, string>>;
}

const EXPECTED: Record<TokenizerKind, Expectation> = {
  // Phi-3: no normalisation beyond ▁ for spaces; a character without a piece falls back to its UTF-8 bytes.
  'sp-bpe-bytefallback': { vocab: 32011, normalise: (text) => text, handling: {} },
  // GPT-2 via Phi-2: every byte is a token, nothing normalised.
  'bytelevel-bpe': { vocab: 50295, normalise: (text) => text, handling: {} },
  // t5-small: SentencePiece's nmt_nfkc charsmap (NFKC: ﬁ → fi, e + U+0301 → é, no-break space → space);
  // no byte fallback, and its vocabulary has no CJK, emoji or §: those become <unk>.
  unigram: {
    vocab: 32100,
    normalise: (text) => text.normalize('NFKC'),
    unknown: '<unk>',
    handling: { cjk: 'unknown', emoji: 'unknown', 'section-sign': 'unknown', ligature: 'normalised', 'combining-accent': 'normalised', nbsp: 'normalised' },
    // NFKC makes e + U+0301 one é, whose offsets the library maps back to the e alone: ▁dé is [19, 21), lit [22, 25)
    uncovered: { 'combining-accent': '\u0301' },
  },
  // BERT uncased: BertNormalizer turns white space into spaces, strips accents (NFD, combining marks
  // dropped) and lowercases; no NFKC, so ﬁ stays ﬁ (a piece of its own). Emoji and 契約 are [UNK].
  wordpiece: {
    vocab: 30522,
    normalise: (text) => text.replace(/\s/gu, ' ').normalize('NFD').replace(/\p{Mn}/gu, '').toLowerCase(),
    unknown: '[UNK]',
    handling: { 'offset-zero': 'normalised', cjk: 'unknown', emoji: 'unknown', 'combining-accent': 'normalised', nbsp: 'normalised' },
  },
};

const SHAPE = ['--layers', '2', '--heads', '4', '--kv-heads', '2', '--hidden', '32', '--max-positions', '128'];

interface TokensFile {
  text: string;
  ids: number[];
  tokens: string[];
  offsets: Array<[number, number]>;
  spans: Array<{ start: number; end: number; tokens: number[] }>;
}

async function writeConcepts(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [id, text] of Object.entries(CASES)) {
    await writeFile(path.join(dir, `${id}.yaml`), `id: ${id}\nname: ${id}\narea: test\nsequences:\n  - id: s\n    text: ${JSON.stringify(text)}\n`);
  }
  return dir;
}

/** The text without the white space decoders add or drop (▁ before words, spaces around WordPiece punctuation); a no-break space stays. */
const squash = (text: string): string => text.replace(/[ \t\n\r]/g, '');
const escapeRegExp = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The characters of the span that no marked token's range covers, white space aside. */
function uncovered(file: TokensFile, span: TokensFile['spans'][number]): string {
  const characters = Array.from(file.text);
  const marked = span.tokens.map((t) => file.offsets[t]!);
  let missing = '';
  for (let k = span.start; k < span.end; k++) {
    if (!/\s/u.test(characters[k]!) && !marked.some(([a, b]) => a <= k && k < b)) missing += characters[k];
  }
  return missing;
}

/** How the span's tokens, decoded, represent its text (undefined: they do not). */
async function handlingOf(tokenizer: Tokenizer, expectation: Expectation, file: TokensFile, span: TokensFile['spans'][number]): Promise<Handling | undefined> {
  const decoded = squash(await tokenizer.decode(span.tokens.map((t) => file.ids[t]!), false));
  const characters = Array.from(file.text);
  const text = characters.slice(span.start, span.end).join('');
  if (decoded.includes(squash(text))) return 'exact';
  if (decoded.includes(squash(expectation.normalise(text)))) return 'normalised';
  const { unknown } = expectation;
  if (!unknown || !decoded.includes(unknown)) return undefined;
  // each unknown token stands for one or more characters of what the marked tokens cover
  const covered = characters.slice(Math.min(...span.tokens.map((t) => file.offsets[t]![0])), Math.max(...span.tokens.map((t) => file.offsets[t]![1]))).join('');
  const pattern = new RegExp(`^${decoded.split(unknown).map(escapeRegExp).join('.+')}$`, 'u');
  return pattern.test(squash(expectation.normalise(covered))) ? 'unknown' : undefined;
}

describe('real tokenizers in synthetic checkpoints, through trace and compare', function () {
  this.timeout(120_000);
  let concepts = '';
  before(async () => {
    concepts = await writeConcepts(path.join(await temporaryFolder(), 'concepts'));
  });

  for (const kind of TOKENIZER_KINDS) {
    describe(kind, () => {
      const expectation = EXPECTED[kind];
      const root = { dir: '' };
      const traced = new Map<Case, TokensFile>();
      before(async () => {
        root.dir = await temporaryFolder();
        const tokenizer = path.join(await realTokenizerFolder(kind), 'tokenizer.json');
        for (const seed of ['1', '2']) {
          const synth = await run('--quiet', 'synth', '--out', path.join(root.dir, `seed-${seed}`), ...SHAPE, '--seed', seed, '--tokenizer', tokenizer);
          assert.equal(synth.code, 0, synth.err);
        }
        const trace = await run('--quiet', 'trace', '--model', path.join(root.dir, 'seed-1'), '--concepts', concepts, '--out', path.join(root.dir, 'trace'), '--maps', 'full');
        assert.equal(trace.code, 0, trace.err);
        for (const id of CASE_IDS) traced.set(id, JSON.parse(await readFile(path.join(root.dir, 'trace', id, 's', 'tokens.json'), 'utf8')) as TokensFile);
      });

      it(`synth sizes the embedding to the tokenizer's ids: ${expectation.vocab}`, async () => {
        const config = JSON.parse(await readFile(path.join(root.dir, 'seed-1', 'config.json'), 'utf8')) as { vocab_size: number };
        assert.equal(config.vocab_size, expectation.vocab);
        const refused = await run('synth', '--out', path.join(root.dir, 'small'), ...SHAPE, '--vocab', '4096', '--tokenizer', path.join(await realTokenizerFolder(kind), 'tokenizer.json'));
        assert.equal(refused.code, 2);
        assert.match(refused.err, new RegExp(`--vocab 4096: .*tokenizer\\.json, whose ids reach ${expectation.vocab - 1}; use --vocab ${expectation.vocab} or more\\.`));
      });

      const gaps = Object.keys(expectation.uncovered ?? {});
      it(`covers every visible character of each span with a marked token${gaps.length ? ` but in ${gaps.join(', ')}` : ''}`, () => {
        const found: Partial<Record<Case, string>> = {};
        for (const id of CASE_IDS) {
          const file = traced.get(id)!;
          assert.equal(file.spans.length, 1, id);
          const missing = uncovered(file, file.spans[0]!);
          if (missing) found[id] = missing;
        }
        assert.deepEqual(found, expectation.uncovered ?? {});
      });

      const notExact = Object.entries(expectation.handling).map(([id, how]) => `${id} ${how}`);
      it(`marks tokens that decode to each span's text: ${notExact.length ? notExact.join(', ') : 'all exact'}`, async () => {
        const tokenizer = await realTokenizer(kind);
        const handling: Partial<Record<Case, Handling | undefined>> = {};
        for (const id of CASE_IDS) {
          const file = traced.get(id)!;
          const how = await handlingOf(tokenizer, expectation, file, file.spans[0]!);
          if (how !== 'exact') handling[id] = how;
        }
        assert.deepEqual(handling, expectation.handling);
      });

      it('writes attention rows that are probabilities over the token and those before it', async () => {
        for (const id of CASE_IDS) {
          const T = traced.get(id)!.ids.length;
          const { data, dims } = await readNpy(path.join(root.dir, 'trace', id, 's', 'attentions.npy'));
          assert.deepEqual(dims, [2, 4, T, T], id);
          for (let row = 0; row < data.length / T; row++) {
            const i = row % T;
            const p = data.subarray(row * T, row * T + T);
            assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5, `${id} row ${row} sums to 1`);
            assert.ok(p.every((v, j) => (j <= i ? v >= 0 : v === 0)), `${id} row ${row} is causal`);
          }
        }
      });

      it('compare gives a share for every concept, layer and head of both checkpoints', async () => {
        const out = path.join(root.dir, 'compare');
        const models = ['--model', `a=${path.join(root.dir, 'seed-1')}`, '--model', `b=${path.join(root.dir, 'seed-2')}`];
        const compared = await run('--quiet', 'compare', ...models, '--concepts', concepts, '--out', out, '--no-report');
        assert.equal(compared.code, 0, compared.err);
        const rows = parse<Record<string, string>>(await readFile(path.join(out, 'shares.csv'), 'utf8'), { columns: true });
        const conceptRows = rows.filter((r) => r.target === 'concept' && r.query_set === 'all' && r.sink === 'include' && r.lens === 'attention');
        for (const id of CASE_IDS) {
          const shares = conceptRows.filter((r) => r.concept === id).map((r) => Number(r.share));
          assert.equal(shares.length, 2 * 2 * 4, id);
          assert.ok(shares.every((s) => s > 0 && s < 1), `${id}: ${shares.join(' ')}`);
        }
      });
    });
  }

  it("reads a text whole under a tokenizer.json that sets padding and truncation (all-MiniLM-L6-v2's: multiples of 8, 256 tokens)", async () => {
    const tokenizer = await loadTokenizer(await realTokenizerFolder('wordpiece'));
    const words = Array.from({ length: 300 }, (_, k) => (k % 2 ? 'contract' : 'law')).join(' ');
    const { tokens } = await tokenizer.encode(words);
    assert.equal(tokens.length, 300 + 2);
    assert.deepEqual([tokens[0], tokens.at(-1)], ['[CLS]', '[SEP]']);
    assert.ok(!tokens.includes('[PAD]'));
  });
});
