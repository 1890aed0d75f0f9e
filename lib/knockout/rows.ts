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
  /** The layer knocked out alone; absent: every layer. */
  layer?: number;
}

/** The layer sets of a run: every layer together, then each asked for alone. */
export const layerSetsOf = (layers: readonly number[] = []): LayerSet[] => ['all', ...[...new Set(layers)].sort((a, b) => a - b)];

/**
 * The rows of one sequence's knockout pass: the baseline, then the concept (when the
 * text holds it) and each reference span in plan order, each under every layer set in
 * turn, so that the spans' values read as `[spans × layer sets]`.
 */
export function knockoutRows(aligned: { spans: ReadonlyArray<Pick<TokenSpan, 'label' | 'tokens'>> }, references: readonly ReferenceSpan[], layerSets: readonly LayerSet[]): KnockoutRow[] {
  const concept = [...new Set(aligned.spans.filter((s) => !s.label).flatMap((s) => s.tokens))].sort((a, b) => a - b);
  const spans: Array<Omit<KnockoutRow, 'layer'>> = [
    ...(concept.length > 0 ? [{ kind: 'concept' as const, tokens: concept }] : []),
    ...references.map((r) => (r.kind === 'word' ? { kind: 'word' as const, label: r.word!, tokens: [...r.tokens] } : { kind: 'control' as const, tokens: [...r.tokens] })),
  ];
  return [{ kind: 'baseline', tokens: [] }, ...spans.flatMap((span) => layerSets.map((set) => (set === 'all' ? { ...span } : { ...span, layer: set })))];
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
