import type { Offset } from '../tokenize/align-spans.js';

/** A word of a text: its type (lower-cased) and the tokens that carry it. */
export interface Word {
  type: string;
  tokens: number[];
}

// Letters and digits, joined by an inner apostrophe or hyphen ("court's", "pre-existing").
const WORD = /[\p{L}\p{N}]+(?:['’-][\p{L}\p{N}]+)*/gu;

/**
 * The words of a text, each with the tokens more than half of whose visible characters
 * lie in it (so that `▁prom` + `ise` carry "promise", and a token `s,` does not carry
 * the word before it); a word no token carries (inside a longer token) is left out.
 * Offsets count code points, as tokens.json does; tokens with empty offsets (special
 * tokens) carry no word.
 */
export function wordsOf(text: string, offsets: readonly Offset[]): Word[] {
  const characters = Array.from(text);
  const visible = characters.map((c) => !/\s/u.test(c));
  const wordAt = new Int32Array(characters.length).fill(-1);
  const types: string[] = [];
  // the regex runs over UTF-16 code units; map each match back to code points
  const codePointAt = new Int32Array(text.length + 1);
  let unit = 0;
  characters.forEach((character, point) => {
    codePointAt.fill(point, unit, unit + character.length);
    unit += character.length;
  });
  codePointAt[unit] = characters.length;
  for (const match of text.matchAll(WORD)) {
    const start = codePointAt[match.index]!;
    const end = codePointAt[match.index + match[0].length]!;
    for (let c = start; c < end; c++) wordAt[c] = types.length;
    types.push(match[0].toLowerCase());
  }
  const tokensOf = types.map((): number[] => []);
  offsets.forEach(([start, end], token) => {
    const counts = new Map<number, number>();
    let seen = 0;
    for (let c = start; c < end; c++) {
      if (!visible[c]) continue;
      seen++;
      const w = wordAt[c] ?? -1;
      if (w >= 0) counts.set(w, (counts.get(w) ?? 0) + 1);
    }
    for (const [w, n] of counts) if (n * 2 > seen) tokensOf[w]!.push(token);
  });
  return types.flatMap((type, w) => (tokensOf[w]!.length > 0 ? [{ type, tokens: tokensOf[w]! }] : []));
}
