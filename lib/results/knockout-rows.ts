import type { KnockoutResults } from '../knockout/measure.js';
import { cell, REPRESENTATION_HEADER, type Cell } from './representation-rows.js';

/** What each knockout measure is, written into summary.json beside the numbers. */
export const KNOCKOUT_DEFINITIONS = {
  knockout:
    'Attention knockout of a span S (the concept: the union of its unlabelled spans, as the tokens overlapping them; or one of the run\'s reference spans, control runs and negative-control words, as for attention): before the softmax of every layer (layer "all") or of one layer alone (--knockout-layers), the score of query i on key j becomes the lowest finite value of its type for every j in S and every i > max S, so no later token can read the span; tokens up to max S, the span\'s own included, are untouched. One session run per sequence: row 0 unmasked (the baseline), one row per span and layer set, in runs cut to fit --max-memory-gb, each with its own baseline row.',
  loglik:
    'Per model: the change in the summed log-likelihood, in nats, of the text\'s tokens after the span: Σ over positions i > max S (up to T − 2) of log p_ko(x_{i+1}) − log p_base(x_{i+1}). Negative: the model needed to read the span to predict what follows. The token right after the span is predicted at max S, which the knockout leaves alone, so it adds nothing. NaN where no token follows. Per pair after:before: after\'s value − before\'s, span by span (did training make the model rely on the concept more?).',
  state:
    'Per model: the mean over positions i > max S of 1 − cos(x_L^ko[i], x_L^base[i]), x_L the residual stream leaving the last layer before the final norm. Per pair after:before: after\'s value − before\'s.',
  test:
    'Each measure and model or pair is judged as representation change is: the concept\'s class-matched effect against the 30 control runs of its class nearest to it (runs with no token after them cannot be knocked out, and runs --knockout-controls left out were not; neither is matched), the concepts tested together against the negative-control null, layer sets standing for heads, each concept\'s statistic scaled by the concepts\' own robust spread (1.4826 × MAD) where that is narrower than the words\' (words recur more alike across texts than a term does across its sequences, which with no heads to pool over made the test conservative); a difference below 1e-4 nats (loglik) or 1e-6 (state) is a tie. Only the pair tests are calibrated against a concept-agnostic null; a model\'s own test asks whether it relies on the concept more than on comparable spans.',
  cost: 'A pass of R rows costs about R plain forward passes: R = 1 + (1 + reference spans knocked out) × layer sets per sequence: every negative-control word and, per width, the plan\'s control runs, or a seeded --knockout-controls of them.',
} as const;

/** `knockout.csv`: representations.csv's columns; one row per measure, scope, model or pair, and layer set (layer empty: every layer). */
export function knockoutRows(results: KnockoutResults): Cell[][] {
  const rows: Cell[][] = [[...REPRESENTATION_HEADER]];
  for (const c of results.changes) {
    c.concept.forEach((v, k) => {
      const set = results.layerSets[k];
      rows.push([c.measure, c.scope, c.model, set === 'all' || set === undefined ? null : set, null, cell(v), cell(c.control[k]), cell(c.effect?.[k]), cell(c.pValue?.[k]), null]);
    });
  }
  return rows;
}
