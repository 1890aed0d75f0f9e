import { matchedControls, type ControlLibrary } from '../reference/match.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { classMatchedEffect } from './class-matched.js';
import { negativeControlNull, type NegativeControlNull } from './negative-controls.js';

/**
 * The matched control runs of spans, kept across the models and pairs of one measure
 * family: which runs can be measured depends on the query set, not on the checkpoint.
 */
export interface ControlMatcher {
  library: ControlLibrary;
  /** Indices into `library.runs`; `word`: the type of a negative-control word, whose runs carrying it are no controls of it. */
  runs(sequence: number, tokens: readonly number[], word?: string): number[];
}

export function controlMatcher(plan: ReferencePlan, library: ControlLibrary, usable: (run: number) => boolean): ControlMatcher {
  const cache = new Map<string, number[]>();
  return {
    library,
    runs(sequence, tokens, word) {
      const key = `${sequence}:${tokens.join(',')}:${word ?? ''}`;
      let matched = cache.get(key);
      if (!matched) {
        matched = matchedControls(library, plan, sequence, tokens, { usable, ...(word !== undefined ? { word } : {}) });
        cache.set(key, matched);
      }
      return matched;
    },
  };
}

/** One pair's changes of every reference span, for one measure family (attention under one variant, or representations). */
export interface ReferenceChanges {
  measures: number;
  /** Below this a difference of changes is a tie. */
  precision: number;
  /** Per sequence of the plan: Δ of each of its reference spans, `[spans × measures]`. */
  bySequence: ReadonlyArray<Float64Array | undefined>;
}

/** What a pair's changes are judged by: each span's class-matched effect, and the negative-control null for units of k sequences. */
export interface ChangeJudge {
  measures: number;
  /** The class-matched effect of a span of a sequence whose change is `delta`. */
  effectOf(sequence: number, tokens: readonly number[], delta: ArrayLike<number>, word?: string): Float64Array;
  /** The null of units of k sequences, or undefined when too few words recur in k to 2k sequences. */
  nullFor(k: number): NegativeControlNull | undefined;
  /** Every null made so far (the negative controls' own rates are read off them). */
  nulls(): NegativeControlNull[];
}

export function changeJudge(plan: ReferencePlan, matcher: ControlMatcher, changes: ReferenceChanges, seed: number): ChangeJudge {
  const M = changes.measures;
  const { library } = matcher;
  const controls = new Float64Array(library.runs.length * M);
  library.runs.forEach((run, k) => controls.set(changes.bySequence[run.sequence]!.subarray(run.span * M, (run.span + 1) * M), k * M));
  const effectOf = (sequence: number, tokens: readonly number[], delta: ArrayLike<number>, word?: string): Float64Array =>
    classMatchedEffect(delta, controls, matcher.runs(sequence, tokens, word), M, changes.precision);
  let words: Map<string, Float64Array[]> | undefined;
  const nulls = new Map<number, NegativeControlNull | undefined>();
  const wordEffects = (): Map<string, Float64Array[]> => {
    const byType = new Map<string, Float64Array[]>();
    plan.sequences.forEach((s, sequence) =>
      s.spans.forEach((span, index) => {
        if (span.kind !== 'word') return;
        const delta = changes.bySequence[sequence]!.subarray(index * M, (index + 1) * M);
        byType.set(span.word!, [...(byType.get(span.word!) ?? []), effectOf(sequence, span.tokens, delta, span.word)]);
      }),
    );
    return byType;
  };
  return {
    measures: M,
    effectOf,
    nullFor(k) {
      if (!nulls.has(k)) {
        words ??= wordEffects();
        nulls.set(k, negativeControlNull(words, k, M, seed));
      }
      return nulls.get(k);
    },
    nulls: () => [...nulls.values()].filter((n): n is NegativeControlNull => n !== undefined),
  };
}
