import { randomLcg } from 'd3-random';
import { sample } from 'simple-statistics';
import type { Word } from './words.js';

/**
 * A span measured beside a sequence's targets to judge them by: a control run of
 * consecutive tokens, or one occurrence of a word of the text (a negative control:
 * words recur across texts as a concept's term recurs across its sequences).
 */
export interface ReferenceSpan {
  kind: 'control' | 'word';
  tokens: number[];
  /** The word's type (lower-cased), for a word. */
  word?: string;
}

export interface ReferenceOptions {
  /** Control runs of each width kept per sequence at most (a seeded sample beyond it). */
  controlsPerWidth: number;
  seed: number;
}

/** A seeded generator for one sequence and width, the same whatever else the run holds. */
const generator = (seed: number, sequence: number, width: number): (() => number) => randomLcg(((seed * 1_000_003 + sequence * 7_919 + width * 104_729) >>> 0) / 2 ** 32);

/**
 * The reference spans of one sequence of legal wording: runs of `width` consecutive
 * tokens for every width asked for (every width a target or word of the run has),
 * avoiding the sink and every annotated token, at most `controlsPerWidth` of each; and
 * the first occurrence of each word of the text that touches neither.
 */
export function referenceSpans(T: number, annotated: ReadonlySet<number>, words: readonly Word[], widths: readonly number[], sequence: number, options: ReferenceOptions): ReferenceSpan[] {
  const free = (t: number): boolean => t > 0 && !annotated.has(t);
  const spans: ReferenceSpan[] = [];
  for (const width of widths) {
    const runs: number[][] = [];
    for (let start = 1; start + width <= T; start++) {
      const run = Array.from({ length: width }, (_, k) => start + k);
      if (run.every(free)) runs.push(run);
    }
    const kept = runs.length <= options.controlsPerWidth ? runs : sample(runs, options.controlsPerWidth, generator(options.seed, sequence, width)).sort((a, b) => a[0]! - b[0]!);
    for (const tokens of kept) spans.push({ kind: 'control', tokens });
  }
  const seen = new Set<string>();
  for (const word of words) {
    if (seen.has(word.type) || !word.tokens.every(free)) continue;
    seen.add(word.type);
    spans.push({ kind: 'word', tokens: word.tokens, word: word.type });
  }
  return spans;
}
