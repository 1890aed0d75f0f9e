import { badInput } from '../errors.js';
import type { NegativeControlRates } from '../compare/chance.js';
import { COSINE_PRECISION, KNOCKOUT_PRECISION } from '../compare/class-matched.js';
import { judgeFamily, type FamilyResult } from '../compare/family-judge.js';
import { controlMatcher } from '../compare/judge.js';
import { pairName, type ModelPair } from '../options/pairs.js';
import { controlLibrary } from '../reference/match.js';
import type { JudgeOptions } from '../represent/representations.js';
import { readKnockout, type SequenceKnockout } from './capture.js';
import type { LayerSet } from './rows.js';
import type { KnockoutSequence } from './stored.js';

/** `loglik`: change in the summed log-likelihood of the tokens after the span; `state`: mean 1 − cos of their last residual state. */
export const KNOCKOUT_MEASURES = ['loglik', 'state'] as const;
export type KnockoutMeasure = (typeof KNOCKOUT_MEASURES)[number];

/** One knockout measure of one scope, for a model (its dependence on the span) or a pair `after:before` (the change of that dependence). */
export interface KnockoutChange extends FamilyResult {
  measure: KnockoutMeasure;
  model: string;
}

export interface KnockoutNegativeControls extends NegativeControlRates {
  measure: KnockoutMeasure;
  model: string;
  sequences: number;
}

export interface KnockoutResults {
  /** The chance test's measures, in the role heads play for attention: every layer, then each layer knocked out alone. */
  layerSets: LayerSet[];
  /** Rows of the longest sequence's pass (the baseline, the concept and each reference span, per layer set). */
  rowsPerSequence: number;
  changes: KnockoutChange[];
  negativeControls: KnockoutNegativeControls[];
}

/** One sequence's values for one model and measure: the concept's `[layer sets]`, and its reference spans' `[spans × layer sets]`. */
interface SpanValues {
  concept: Float64Array;
  references: Float64Array;
}

/**
 * A span's knockout values from its row: the queries after its last token are the
 * ones that could not read it, so the measured tokens are those after max S.
 * loglik: Σ over them of log p_ko − log p_base of the token each predicts (the last
 * predicts none); state: their mean 1 − cos with the baseline. NaN where none follow.
 */
function rowValues(pass: SequenceKnockout, row: number): Record<KnockoutMeasure, number> {
  const T = pass.length;
  const first = Math.max(...pass.rows[row]!.tokens) + 1;
  let loglik = 0;
  let distance = 0;
  for (let i = first; i < T; i++) {
    if (i < T - 1) loglik += pass.logprob[row * T + i]! - pass.logprob[i]!;
    distance += 1 - pass.cosine[row * T + i]!;
  }
  return { loglik: first < T - 1 ? loglik : Number.NaN, state: first < T ? distance / (T - first) : Number.NaN };
}

/**
 * A sequence's values per measure, its rows read as the capture laid them out: after the
 * baseline, M rows (one per layer set) per span. A reference span that was not knocked
 * out (`--knockout-controls`) keeps NaN; no control is matched to it.
 */
function sequenceValues(pass: SequenceKnockout, spans: number, M: number, file: string): Record<KnockoutMeasure, SpanValues> {
  const refuse = (what: string) => badInput(`${file}: ${what}; the knockout was written by another run: run compare --knockout again.`);
  if ((pass.rows.length - 1) % M !== 0) throw refuse(`${pass.rows.length} knockout rows, which are not the baseline and ${M} layer sets per span`);
  const out = Object.fromEntries(KNOCKOUT_MEASURES.map((m) => [m, { concept: new Float64Array(M).fill(Number.NaN), references: new Float64Array(spans * M).fill(Number.NaN) }])) as Record<KnockoutMeasure, SpanValues>;
  for (let first = 1; first < pass.rows.length; first += M) {
    const { kind, span } = pass.rows[first]!;
    if (kind !== 'concept' && (span === undefined || span >= spans)) throw refuse(`a ${kind} row names span ${span ?? 'none'} where the reference plan has ${spans}`);
    for (let set = 0; set < M; set++) {
      const values = rowValues(pass, first + set);
      for (const m of KNOCKOUT_MEASURES) {
        if (kind === 'concept') out[m].concept[set] = values[m];
        else out[m].references[span! * M + set] = values[m];
      }
    }
  }
  return out;
}

const difference = (a: Float64Array, b: Float64Array): Float64Array => a.map((v, k) => v - b[k]!);

/**
 * Every knockout measure over the sequences' stored passes: per model, how much the
 * tokens after a span depend on reading it; per pair, how that dependence changed
 * (after − before). Each family is judged against the matched control spans and the
 * negative-control null exactly as representation change is.
 */
export async function measureKnockout(sequences: readonly KnockoutSequence[], models: readonly string[], pairs: readonly ModelPair[], options: JudgeOptions): Promise<KnockoutResults> {
  const plan = options.references;
  const first = sequences[0]!;
  const layerSets: LayerSet[] = first.rows.slice(1).map((r) => r.layer ?? ('all' as const));
  // the first span's rows: every layer, then each layer alone, until the next span's every-layer row
  const next = layerSets.findIndex((set, k) => k > 0 && set === 'all');
  const M = Math.max(1, next < 0 ? layerSets.length : next);
  layerSets.length = Math.min(layerSets.length, M);
  if (layerSets.length === 0) layerSets.push('all');
  // per model and measure, per sequence of the plan
  const values = new Map<string, Array<Record<KnockoutMeasure, SpanValues> | undefined>>(models.map((m) => [m, []]));
  const lengths = new Map<number, number>();
  let rowsPerSequence = 0;
  for (const sequence of sequences) {
    const spans = plan.sequences[sequence.index]?.spans.length ?? 0;
    for (const model of models) {
      const pass = await readKnockout(sequence.dirs[model]!, sequence.rows);
      lengths.set(sequence.index, pass.length);
      rowsPerSequence = Math.max(rowsPerSequence, pass.rows.length);
      values.get(model)![sequence.index] = sequenceValues(pass, spans, M, sequence.dirs[model]!);
    }
  }
  // only the control runs knocked out (--knockout-controls) with a token after them count
  const knocked = new Set(sequences.flatMap((s) => s.rows.flatMap((r) => (r.kind === 'control' ? [`${s.index}:${r.span}`] : []))));
  const library = controlLibrary(plan);
  const matcher = controlMatcher(plan, library, (run) => {
    const { sequence, span, tokens } = library.runs[run]!;
    return knocked.has(`${sequence}:${span}`) && Math.max(...tokens) < (lengths.get(sequence) ?? 0) - 2;
  });
  const concepts = [...new Set(sequences.map((s) => s.concept))];
  const families: Array<{ model: string; of: (m: KnockoutMeasure, s: number) => SpanValues | undefined }> = [
    ...models.map((model) => ({ model, of: (m: KnockoutMeasure, s: number) => values.get(model)![s]?.[m] })),
    ...pairs.map((pair) => ({
      model: pairName(pair),
      of: (m: KnockoutMeasure, s: number): SpanValues | undefined => {
        const [after, before] = [values.get(pair.after)![s]?.[m], values.get(pair.before)![s]?.[m]];
        return after && before ? { concept: difference(after.concept, before.concept), references: difference(after.references, before.references) } : undefined;
      },
    })),
  ];
  const changes: KnockoutChange[] = [];
  const negativeControls: KnockoutNegativeControls[] = [];
  for (const measure of KNOCKOUT_MEASURES) {
    for (const family of families) {
      const bySequence = plan.sequences.map((_, s) => family.of(measure, s)?.references ?? new Float64Array(0));
      const items = sequences.map((s) => ({ concept: s.concept, sequence: s.index, tokens: s.rows.find((r) => r.kind === 'concept')?.tokens ?? [], values: family.of(measure, s.index)!.concept }));
      // one measure per layer set and no heads to pool over: the family's own spread where narrower than the words'
      const judged = judgeFamily({ measures: M, precision: measure === 'loglik' ? KNOCKOUT_PRECISION : COSINE_PRECISION, bySequence, items, scale: 'narrower' }, { plan, matcher, concepts, seed: options.seed, alpha: options.alpha });
      changes.push(...judged.results.map((r) => ({ measure, model: family.model, ...r })));
      negativeControls.push(...judged.negativeControls.map((rates) => ({ measure, model: family.model, ...rates })));
    }
  }
  return { layerSets, rowsPerSequence, changes, negativeControls };
}
