import type { RepresentationResults } from '../represent/representations.js';

/** A CSV cell: a number, or empty where the value is not finite. */
export type Cell = string | number | null;
export const cell = (v: number | null | undefined): Cell => (v !== null && v !== undefined && Number.isFinite(v) ? v : null);

/** What each representation measure is, written into summary.json beside the numbers. */
export const REPRESENTATION_DEFINITIONS = {
  states:
    'x_l: the residual stream entering decoder layer l (l = 0 is the token embeddings), and x_L after the last layer, before the final norm; found by graph structure (the chain of residual additions). A span\'s state is the mean of x_l over its tokens (the concept: the union of its unlabelled spans; components; the run\'s reference spans (control runs and negative-control words) as for attention; single tokens, at most 128 per sequence, evenly spaced, the first token left out).',
  change:
    'Representation change of a span between a pair after:before at state l: 1 − cos(x_l^after, x_l^before) of its mean state. At the concept, with the same class-matched effect (against the 30 control runs of its class nearest to it, from every sequence) and negative-control null (words of the texts that recur as a term does) as attention shares, state layers standing for heads; two-sided (the effect\'s sign says whether the concept moved more or less than comparable words). A difference below 1e-6, the precision of 1 − cos in float32, is a tie; a spread below it is taken as 1e-6, so a concept that moved where its controls did not gets a large, finite effect.',
  cka: 'Linear CKA (Kornblith et al. 2019) between after\'s state i and before\'s state j: ⟨HKH, HLH⟩ / (‖HKH‖ ‖HLH‖), K = XXᵀ and L = YYᵀ over the same rows. concepts: one row per concept occurrence (its mean state), over all sequences of legal wording. tokens: single-token rows of one sequence, averaged over sequences.',
  probe:
    'A linear probe of the concept\'s mean state per state layer: ridge regression of one-hot labels in its dual form (ridge 0.1 × the mean squared centred row norm, features and labels centred on the training rows), the label with the highest score. area: the concept\'s area of law, each concept held out in turn (so the probe must generalise to concepts it did not see). concept: the concept, each sequence index held out in turn. chance: the mean accuracy of the same probe and folds on labels shuffled 100 times (areas over concepts, concepts over occurrences), chance95 its 95th percentile, p = (1 + #{shuffled ≥ accuracy}) / 101.',
  paraphrase: 'Paraphrase distance: 1 − cos between the mean state of a legal term and of its plain paraphrase (the wording control sequence), per model and state layer, averaged over such pairs.',
  structure: 'Structure gap: mean 1 − cos between the states of declared related components minus the mean over undeclared pairs of the same sequence, averaged over sequences with at least 3 components (negative: related components sit closer).',
} as const;

/** The columns of representations.csv, which knockout.csv shares. */
export const REPRESENTATION_HEADER = ['measure', 'scope', 'model', 'layer', 'layer_other', 'value', 'control', 'effect', 'p_value', 'chance'] as const;

/** `representations.csv`: one row per measure, scope, model or pair, and state layer (CKA: and the other model's layer). */
export function representationRows(results: RepresentationResults): Cell[][] {
  const rows: Cell[][] = [[...REPRESENTATION_HEADER]];
  for (const c of results.changes) {
    c.concept.forEach((v, l) => rows.push(['change', c.scope, c.pair, l, null, cell(v), cell(c.control[l]), cell(c.effect?.[l]), cell(c.pValue?.[l]), null]));
  }
  for (const c of results.cka) {
    for (const [measure, matrix] of [['cka_concepts', c.concepts], ['cka_tokens', c.tokens]] as const) {
      matrix.forEach((row, i) => row.forEach((v, j) => rows.push([measure, '*', c.pair, i, j, cell(v), null, null, null, null])));
    }
  }
  for (const m of results.models) {
    m.areaProbe.forEach((p, l) => rows.push(['probe_area', '*', m.model, l, null, cell(p.accuracy), null, null, cell(p.pValue), cell(p.chance)]));
    m.conceptProbe.forEach((p, l) => rows.push(['probe_concept', '*', m.model, l, null, cell(p.accuracy), null, null, cell(p.pValue), cell(p.chance)]));
    m.paraphraseDistance.forEach((v, l) => rows.push(['paraphrase_distance', '*', m.model, l, null, cell(v), null, null, null, null]));
    m.structureGap.forEach((v, l) => rows.push(['structure_gap', '*', m.model, l, null, cell(v), null, null, null, null]));
  }
  return rows;
}
