import type { ReferencePlan } from './reference-plan.js';
import { spanFeatures } from './token-classes.js';

/** How many controls of the run's library a span is measured against. */
export const MATCHED_CONTROLS = 30;

/** Every control run of a run, with its class features, grouped by width. */
export interface ControlLibrary {
  /** Where each run is: its sequence and its index among that sequence's reference spans. */
  runs: Array<{ sequence: number; span: number; tokens: readonly number[] }>;
  features: number[][];
  /** Run indices by width. */
  byWidth: Map<number, number[]>;
  /** Per width, the spread of each feature over its runs (1 where it does not vary). */
  scales: Map<number, number[]>;
}

/** The control runs of a reference plan, features computed once. */
export function controlLibrary(plan: ReferencePlan): ControlLibrary {
  const runs: ControlLibrary['runs'] = [];
  const features: number[][] = [];
  const byWidth = new Map<number, number[]>();
  plan.sequences.forEach((s, sequence) =>
    s.spans.forEach((span, index) => {
      if (span.kind !== 'control') return;
      byWidth.set(span.tokens.length, [...(byWidth.get(span.tokens.length) ?? []), runs.length]);
      runs.push({ sequence, span: index, tokens: span.tokens });
      features.push(spanFeatures(s.classes, span.tokens));
    }),
  );
  const scales = new Map([...byWidth].map(([width, indices]) => [width, spreads(indices.map((k) => features[k]!))]));
  return { runs, features, byWidth, scales };
}

function spreads(rows: readonly number[][]): number[] {
  const width = rows[0]?.length ?? 0;
  return Array.from({ length: width }, (_, f) => {
    const values = rows.map((r) => r[f]!);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    return sd > 0 ? sd : 1;
  });
}

export interface MatchOptions {
  count?: number;
  /** A word whose occurrence is matched: runs that carry that word anywhere are no controls of it. */
  word?: string;
  /** Runs that can be measured (a query set may leave some without a query). */
  usable?: (run: number) => boolean;
}

/**
 * The `count` control runs of the span's width nearest to it in class features
 * (standardised by their spread over the runs of that width), leaving out runs of its
 * own sequence that share a token with it and, for a word, runs that carry the same
 * word; ties by library order. Indices into `library.runs`.
 */
export function matchedControls(library: ControlLibrary, plan: ReferencePlan, sequence: number, tokens: readonly number[], options: MatchOptions = {}): number[] {
  const width = tokens.length;
  const candidates = library.byWidth.get(width) ?? [];
  const scale = library.scales.get(width);
  if (!scale) return [];
  const own = new Set(tokens);
  const target = spanFeatures(plan.sequences[sequence]!.classes, tokens);
  const carries = (run: number): boolean => {
    const { sequence: s, tokens: runTokens } = library.runs[run]!;
    const classes = plan.sequences[s]!.classes;
    return runTokens.some((t) => classes.words[classes.word[t]!]?.type === options.word);
  };
  const scored: Array<{ run: number; distance: number }> = [];
  for (const run of candidates) {
    const r = library.runs[run]!;
    if (r.sequence === sequence && r.tokens.some((t) => own.has(t))) continue;
    if (options.usable && !options.usable(run)) continue;
    if (options.word !== undefined && carries(run)) continue;
    const f = library.features[run]!;
    let distance = 0;
    for (let k = 0; k < f.length; k++) distance += ((f[k]! - target[k]!) / scale[k]!) ** 2;
    scored.push({ run, distance });
  }
  scored.sort((a, b) => a.distance - b.distance || a.run - b.run);
  return scored.slice(0, options.count ?? MATCHED_CONTROLS).map((s) => s.run);
}
