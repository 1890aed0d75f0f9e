import assert from 'node:assert/strict';
import { controlLibrary, matchedControls } from '../../lib/reference/match.js';
import { referencePlan } from '../../lib/reference/reference-plan.js';
import { referenceSpans } from '../../lib/reference/reference-spans.js';
import { spanFeatures, tokenClasses } from '../../lib/reference/token-classes.js';
import { wordsOf } from '../../lib/reference/words.js';

describe('wordsOf', () => {
  it('gives each word the tokens most of whose visible characters it holds, its type lower-cased', () => {
    // "<s>", "▁A", "▁prom", "ise", "▁is", "s,": a SentencePiece tokenization with the space inside the token
    const text = 'A promise iss, ok';
    const offsets: Array<[number, number]> = [[0, 0], [0, 1], [1, 6], [6, 9], [9, 12], [12, 14], [14, 17]];
    assert.deepEqual(wordsOf(text, offsets), [
      { type: 'a', tokens: [1] },
      { type: 'promise', tokens: [2, 3] },
      // "s," is half word, half punctuation: one of its two visible characters is no majority
      { type: 'iss', tokens: [4] },
      { type: 'ok', tokens: [6] },
    ]);
  });

  it('counts offsets in code points, as tokens.json does, past characters outside the BMP', () => {
    // "𝔄" is two UTF-16 units and one code point
    const words = wordsOf('𝔄 law’s pre-trial', [[0, 0], [0, 1], [1, 7], [7, 17]]);
    assert.deepEqual(words, [{ type: '𝔄', tokens: [1] }, { type: 'law’s', tokens: [2] }, { type: 'pre-trial', tokens: [3] }]);
  });
});

describe('referenceSpans', () => {
  const words = [{ type: 'the', tokens: [1] }, { type: 'court', tokens: [2, 3] }, { type: 'the', tokens: [6] }, { type: 'held', tokens: [5] }];

  it('gives runs of every width avoiding the sink and annotated tokens, then the first occurrence of each free word', () => {
    const spans = referenceSpans(7, new Set([4]), words, [1, 2], 0, { controlsPerWidth: 10, seed: 1 });
    assert.deepEqual(
      spans.map((s) => `${s.kind}:${s.tokens.join('.')}${s.word ? `:${s.word}` : ''}`),
      ['control:1', 'control:2', 'control:3', 'control:5', 'control:6', 'control:1.2', 'control:2.3', 'control:5.6', 'word:1:the', 'word:2.3:court', 'word:5:held'],
    );
  });

  it('samples at most controlsPerWidth runs of a width, the same for the same seed and sequence', () => {
    const a = referenceSpans(40, new Set([10]), [], [3], 5, { controlsPerWidth: 4, seed: 7 });
    assert.equal(a.length, 4);
    assert.deepEqual(referenceSpans(40, new Set([10]), [], [3], 5, { controlsPerWidth: 4, seed: 7 }), a);
    assert.notDeepEqual(referenceSpans(40, new Set([10]), [], [3], 6, { controlsPerWidth: 4, seed: 7 }), a);
  });
});

describe('token classes and matching', () => {
  // three sequences "<s> x y z …" of ids; the concept in sequence 0 is token 2 (id 50, rare)
  const sequence = (ids: number[]) => ({ ids, text: ids.slice(1).map((id) => `w${id}`).join(' '), offsets: ids.map((_, t): [number, number] => (t === 0 ? [0, 0] : [(t - 1) * 4, (t - 1) * 4 + 3])) });
  const inputs = [
    { ...sequence([1, 20, 50, 21, 22, 23, 24, 25, 26, 27, 28, 29]), annotated: [2], targetWidths: [1], legal: true },
    { ...sequence([1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 60]), annotated: [], targetWidths: [], legal: true },
    { ...sequence([1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 21]), annotated: [], targetWidths: [], legal: true },
  ];

  it('gives ln(1 + position), ln length, mean ln frequency, word pieces and word alignment, and the embedding norm where it is known', () => {
    const [classes] = tokenClasses(inputs, (id) => id / 10);
    // id 50 occurs once over the three texts
    assert.deepEqual(round(spanFeatures(classes!, [2])), round([Math.log(3), Math.log(12), Math.log(2), 1, 1, 5]));
    const plan = referencePlan(inputs, 'not read', { controlsPerWidth: 32, seed: 1 });
    assert.deepEqual(plan.features, ['position', 'length', 'frequency', 'pieces', 'alignment']);
    assert.equal(plan.embeddingUnread, 'not read');
  });

  it('matches a span to the runs of its width nearest in class, from every sequence, never its own tokens or its own word', () => {
    const plan = referencePlan(inputs, (id) => (id >= 50 ? 3 : 1), { controlsPerWidth: 32, seed: 1 });
    const library = controlLibrary(plan);
    const nearest = matchedControls(library, plan, 0, [2], { count: 2 });
    // the rare ids 60 and the last 21 are the runs most like the concept: id 60 (rare, large norm) first
    const first = library.runs[nearest[0]!]!;
    assert.deepEqual([first.sequence, first.tokens], [1, [11]]);
    assert.ok(nearest.every((run) => library.runs[run]!.sequence !== 0 || !library.runs[run]!.tokens.includes(2)));
    // a word is never matched to a run that carries the same word
    const word = matchedControls(library, plan, 1, [1], { word: 'w20' });
    assert.ok(word.every((run) => plan.sequences[library.runs[run]!.sequence]!.classes.words[plan.sequences[library.runs[run]!.sequence]!.classes.word[library.runs[run]!.tokens[0]!]!]!.type !== 'w20'));
    // 32 runs of width 1, less the three that carry w20 (token 1 of every sequence)
    assert.equal(word.length, 29);
  });
});

const round = (values: ArrayLike<number>): number[] => Array.from(values, (v) => Number(v.toFixed(9)));
