import { randomLcg } from 'd3-random';
import { sample } from 'simple-statistics';
import type { ReferenceSpan } from '../reference/reference-spans.js';
import type { TokenSpan } from '../tokenize/align-spans.js';

/** Where a row knocks out: every layer, or one layer alone (`--knockout-layers`). */
export type LayerSet = 'all' | number;

/** One row of a sequence's knockout pass: the span whose keys no later query may read, in which layers. */
export interface KnockoutRow {
  /** `baseline`: row 0, nothing knocked out; `concept`: the union of its unlabelled spans; `control` and `word`: the sequence's reference spans, as for attention. */
  kind: 'baseline' | 'concept' | 'control' | 'word';
  /** A word's type. */
  label?: string;
  tokens: number[];
  /** A control's or word's index among its sequence's reference spans in the plan. */
  span?: number;
  /** The layer knocked out alone; absent: every layer. */
  layer?: number;
}

/** The layer sets of a run: every layer together, then each asked for alone. */
export const layerSetsOf = (layers: readonly number[] = []): LayerSet[] => ['all', ...[...new Set(layers)].sort((a, b) => a - b)];

/**
 * The rows of one sequence's knockout pass: the baseline, then the concept (when the
 * text holds it) and each reference span kept (`spans`, indices in plan order; default
 * all), each under every layer set in turn, so that the spans' values read as
 * `[spans × layer sets]`.
 */
export function knockoutRows(aligned: { spans: ReadonlyArray<Pick<TokenSpan, 'label' | 'tokens'>> }, references: readonly ReferenceSpan[], layerSets: readonly LayerSet[], spans: readonly number[] = references.map((_, k) => k)): KnockoutRow[] {
  const concept = [...new Set(aligned.spans.filter((s) => !s.label).flatMap((s) => s.tokens))].sort((a, b) => a - b);
  const knocked: Array<Omit<KnockoutRow, 'layer'>> = [
    ...(concept.length > 0 ? [{ kind: 'concept' as const, tokens: concept }] : []),
    ...spans.map((span) => {
      const r = references[span]!;
      return r.kind === 'word' ? { kind: 'word' as const, label: r.word!, tokens: [...r.tokens], span } : { kind: 'control' as const, tokens: [...r.tokens], span };
    }),
  ];
  return [{ kind: 'baseline', tokens: [] }, ...knocked.flatMap((row) => layerSets.map((set) => (set === 'all' ? { ...row } : { ...row, layer: set })))];
}

/** A seeded generator for one sequence and width, apart from the one that sampled the plan's runs. */
const generator = (seed: number, sequence: number, width: number): (() => number) => randomLcg(((seed * 999_983 + sequence * 8_191 + width * 131_071 + 17) >>> 0) / 2 ** 32);

/**
 * The reference spans of a sequence that are knocked out (indices in plan order): every
 * word, which the negative-control null needs, and at most `perWidth` of its control
 * runs of each width, a sample seeded by the run's seed, the sequence and the width
 * alone, so that every model knocks out the same runs. All of them without `perWidth`.
 */
export function knockedOutSpans(references: readonly ReferenceSpan[], perWidth: number | undefined, seed: number, sequence: number): number[] {
  const byWidth = new Map<number, number[]>();
  references.forEach((r, k) => {
    if (r.kind === 'control') byWidth.set(r.tokens.length, [...(byWidth.get(r.tokens.length) ?? []), k]);
  });
  const kept = new Set<number>();
  for (const [width, runs] of byWidth) {
    for (const k of perWidth === undefined || runs.length <= perWidth ? runs : sample(runs, perWidth, generator(seed, sequence, width))) kept.add(k);
  }
  return references.flatMap((r, k) => (r.kind === 'word' || kept.has(k) ? [k] : []));
}

/**
 * The knocked-out rows (all but the baseline) cut into runs that fit `budget` bytes
 * with the baseline each run repeats; one row at least must fit (`checkKnockoutFits`).
 * The cut depends only on the row count, T and the model's shape, so every model of a
 * lineage runs the same batches.
 */
export function chunks<T>(rows: readonly T[], bytesPerRow: number, budget: number): T[][] {
  const perRun = Math.floor(budget / bytesPerRow) - 1;
  // `checkKnockoutFits` refuses such a budget before any model runs
  if (perRun < 1) throw new Error(`knockout chunks: ${budget} bytes hold no knocked-out row of ${bytesPerRow} bytes beside its baseline`);
  const runs: T[][] = [];
  for (let k = 0; k < rows.length; k += perRun) runs.push(rows.slice(k, k + perRun));
  return runs;
}
