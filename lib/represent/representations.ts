import type { NegativeControlRates } from '../compare/chance.js';
import { judgeFamily, type FamilyResult } from '../compare/family-judge.js';
import { COSINE_PRECISION } from '../compare/class-matched.js';
import { controlMatcher } from '../compare/judge.js';
import { pairName, type ModelPair } from '../options/pairs.js';
import { finiteMean } from '../measure/distribution.js';
import { controlLibrary } from '../reference/match.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { readStates, rowOffset, type SequenceStates } from './capture.js';
import { centredGram, ckaMatrix, cosineDistance } from './geometry.js';
import { crossValidatedProbe, type ProbeAccuracy } from './probe.js';
import type { StateRow } from './span-rows.js';

/** One traced sequence as the representation measures see it. */
export interface StateSequence {
  concept: string;
  sequence: string;
  /** Its index in the run's reference plan. */
  index: number;
  /** Set on a plain-wording control: the sequence it restates. */
  paraphraseOf?: string;
  rows: StateRow[];
  /** Per model, the folder its states were written to. */
  dirs: Record<string, string>;
}

export interface ConceptFacts {
  id: string;
  area: string;
  structure?: Array<[string, string]>;
}

/** Representation change of one scope (a concept, or `*` for all) for one pair of models: per state layer, mean 1 − cos at the concept's tokens and at its matched control runs', judged as attention shares are. */
export interface ChangeResult extends FamilyResult {
  pair: string;
}

/** The negative-control words' own rates on one pair: the run's false-positive rate for representation change. */
export interface RepresentationNegativeControls extends NegativeControlRates {
  pair: string;
  sequences: number;
}

export interface ModelGeometry {
  model: string;
  /** Per state layer: cross-validated probes of the area of law (held out by concept) and of the concept (held out by sequence). */
  areaProbe: ProbeAccuracy[];
  conceptProbe: ProbeAccuracy[];
  /** Per state layer: mean 1 − cos between a legal term and its plain paraphrase; null where no concept has one. */
  paraphraseDistance: Array<number | null>;
  /** Per state layer: mean distance between declared related components minus that between unrelated ones (negative: related sit closer); null without structure. */
  structureGap: Array<number | null>;
}

export interface PairCka {
  pair: string;
  /** `[states × states]` (after's layer i, before's layer j), over each concept occurrence's pooled state. */
  concepts: Array<Array<number | null>>;
  /** The same over single tokens, per sequence, averaged over sequences. */
  tokens: Array<Array<number | null>>;
}

export interface RepresentationResults {
  states: number;
  hidden: number;
  changes: ChangeResult[];
  negativeControls: RepresentationNegativeControls[];
  cka: PairCka[];
  models: ModelGeometry[];
}

const rowsOf = (s: { rows: readonly StateRow[] }, kind: StateRow['kind']): number[] => s.rows.flatMap((r, k) => (r.kind === kind ? [k] : []));
const nanFree = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** How representation change is judged: the run's reference plan, the seed of the negative-control null, alpha. */
export interface JudgeOptions {
  references: ReferencePlan;
  seed: number;
  alpha: number;
}

/** One sequence's changes for one pair: the concept's per state, and every reference span's `[spans × states]`. */
interface SequenceChange {
  concept: string;
  sequence: StateSequence;
  byLayer: Float64Array;
  references: Float64Array;
}

/** Every representation measure over the sequences' stored states: per pair, change and CKA; per model, probes and distances. */
export async function measureRepresentations(sequences: readonly StateSequence[], models: readonly string[], pairs: readonly ModelPair[], concepts: readonly ConceptFacts[], options: JudgeOptions): Promise<RepresentationResults> {
  const legal = sequences.filter((s) => !s.paraphraseOf);
  // What stays in memory: each sequence's concept and component rows per model, `[states, hidden]` each.
  const kept = new Map<string, Map<string, SequenceStates>>();
  const change = new Map<string, SequenceChange[]>();
  const tokenCka = new Map<string, Float64Array[]>();
  let states = 0;
  let hidden = 0;
  for (const sequence of sequences) {
    const byModel = new Map<string, SequenceStates>();
    for (const model of models) byModel.set(model, await readStates(sequence.dirs[model]!, sequence.rows));
    const first = byModel.get(models[0]!)!;
    ({ states, hidden } = first);
    kept.set(`${sequence.concept}/${sequence.sequence}`, new Map([...byModel].map(([m, s]) => [m, keepConceptRows(s)])));
    if (sequence.paraphraseOf) continue;
    // each model's token Grams once per sequence, whatever the number of pairs it is in
    const tokens = rowsOf(first, 'token');
    const grams = tokens.length >= 3 ? new Map(models.map((m) => [m, gramsOf(byModel.get(m)!, tokens)])) : undefined;
    for (const pair of pairs) {
      const [after, before] = [byModel.get(pair.after)!, byModel.get(pair.before)!];
      const list = change.get(pairName(pair)) ?? [];
      list.push({ concept: sequence.concept, sequence, ...spanChanges(after, before) });
      change.set(pairName(pair), list);
      if (grams) tokenCka.set(pairName(pair), [...(tokenCka.get(pairName(pair)) ?? []), ckaMatrix(grams.get(pair.after)!, grams.get(pair.before)!)]);
    }
  }
  const conceptIds = [...new Set(legal.map((s) => s.concept))];
  // every state of every reference span can be measured: the runs' usability does not depend on the pair
  const matcher = controlMatcher(options.references, controlLibrary(options.references), () => true);
  const negativeControls: RepresentationNegativeControls[] = [];
  const changes = pairs.flatMap((pair) => {
    const list = change.get(pairName(pair)) ?? [];
    const bySequence = options.references.sequences.map((_, k) => list.find((item) => item.sequence.index === k)?.references ?? new Float64Array(0));
    const items = list.map((item) => ({ concept: item.concept, sequence: item.sequence.index, tokens: conceptTokensOf(item.sequence), values: item.byLayer }));
    const judged = judgeFamily({ measures: states, precision: COSINE_PRECISION, bySequence, items }, { plan: options.references, matcher, concepts: conceptIds, seed: options.seed, alpha: options.alpha });
    negativeControls.push(...judged.negativeControls.map((rates) => ({ pair: pairName(pair), ...rates })));
    return judged.results.map(({ scope, ...rest }): ChangeResult => ({ scope, pair: pairName(pair), ...rest }));
  });
  const cka = pairs.map((pair): PairCka => {
    const occurrences = legal.map((s) => kept.get(`${s.concept}/${s.sequence}`)!).filter((byModel) => rowsOf(byModel.get(pair.after)!, 'concept').length > 0);
    const conceptGrams = (model: string): Float64Array[] => Array.from({ length: states }, (_, l) => centredGram(conceptRows(occurrences.map((o) => o.get(model)!), l, hidden)));
    const perToken = tokenCka.get(pairName(pair)) ?? [];
    return {
      pair: pairName(pair),
      concepts: square(ckaMatrix(conceptGrams(pair.after), conceptGrams(pair.before)), states),
      tokens: square(Float64Array.from({ length: states * states }, (_, k) => finiteMean(perToken.map((m) => m[k]!))), states),
    };
  });
  const geometry = models.map((model) => modelGeometry(model, legal, sequences, kept, concepts, states, hidden));
  return { states, hidden, changes, negativeControls, cka, models: geometry };
}

/** Per state layer, 1 − cos between the two models at the concept row, and at each reference row (control runs and words, in plan order) `[spans × states]`. */
function spanChanges(after: SequenceStates, before: SequenceStates): { byLayer: Float64Array; references: Float64Array } {
  const concept = rowsOf(after, 'concept')[0];
  const references = after.rows.flatMap((r, k) => (r.kind === 'control' || r.kind === 'word' ? [k] : []));
  const L = after.states;
  const distance = (l: number, row: number): number => cosineDistance(after.data, before.data, rowOffset(after, l, row), after.hidden, rowOffset(before, l, row));
  const byLayer = Float64Array.from({ length: L }, (_, l) => (concept === undefined ? Number.NaN : distance(l, concept)));
  const matrix = new Float64Array(references.length * L);
  references.forEach((row, c) => {
    for (let l = 0; l < L; l++) matrix[c * L + l] = distance(l, row);
  });
  return { byLayer, references: matrix };
}

/** Only the concept and component rows of a sequence's states, as the probes and distances need them. */
function keepConceptRows(s: SequenceStates): SequenceStates {
  const keep = s.rows.flatMap((r, k) => (r.kind === 'concept' || r.kind === 'component' ? [k] : []));
  const data = new Float32Array(s.states * keep.length * s.hidden);
  for (let l = 0; l < s.states; l++) data.set(vectorsAt(s, l, keep), l * keep.length * s.hidden);
  return { data, states: s.states, hidden: s.hidden, rows: keep.map((k) => s.rows[k]!) };
}

/** The vectors of some rows at state layer l, stacked `[rows × hidden]`. */
function vectorsAt(s: SequenceStates, l: number, rows: readonly number[]): Float64Array {
  const data = new Float64Array(rows.length * s.hidden);
  rows.forEach((row, k) => data.set(s.data.subarray(rowOffset(s, l, row), rowOffset(s, l, row) + s.hidden), k * s.hidden));
  return data;
}

const gramsOf = (s: SequenceStates, rows: readonly number[]): Float64Array[] => Array.from({ length: s.states }, (_, l) => centredGram({ data: vectorsAt(s, l, rows), rows: rows.length, width: s.hidden }));

/** The concept row of each sequence at state layer l, stacked `[sequences × hidden]` (zeros where a sequence has none). */
function conceptRows(list: readonly SequenceStates[], l: number, hidden: number): { data: Float64Array; rows: number; width: number } {
  const data = new Float64Array(list.length * hidden);
  list.forEach((s, k) => data.set(vectorsAt(s, l, rowsOf(s, 'concept').slice(0, 1)), k * hidden));
  return { data, rows: list.length, width: hidden };
}

/** Rows of a flat `n × n` matrix; NaN (no spread) is written as null. */
const square = (flat: Float64Array, n: number): Array<Array<number | null>> => Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * n, (i + 1) * n), nanFree));

const conceptTokensOf = (s: StateSequence): number[] => s.rows.find((r) => r.kind === 'concept')?.tokens ?? [];

function modelGeometry(model: string, legal: readonly StateSequence[], all: readonly StateSequence[], kept: ReadonlyMap<string, ReadonlyMap<string, SequenceStates>>, concepts: readonly ConceptFacts[], states: number, hidden: number): ModelGeometry {
  const statesOf = (s: StateSequence): SequenceStates => kept.get(`${s.concept}/${s.sequence}`)!.get(model)!;
  const withConcept = legal.filter((s) => rowsOf(statesOf(s), 'concept').length > 0);
  const area = new Map(concepts.map((c) => [c.id, c.area]));
  const conceptIndex = new Map([...new Set(withConcept.map((s) => s.concept))].map((id, k) => [id, k]));
  const occurrence = withConcept.map((s) => withConcept.filter((o) => o.concept === s.concept).indexOf(s));
  const probes = (labels: string[], folds: number[], groups?: number[]): ProbeAccuracy[] => Array.from({ length: states }, (_, l) => crossValidatedProbe(conceptRows(withConcept.map(statesOf), l, hidden).data, hidden, labels, folds, groups));
  const vectorAt = (s: SequenceStates, kind: StateRow['kind'], l: number, label?: string): number | undefined => {
    const row = s.rows.findIndex((r) => r.kind === kind && (label === undefined || r.label === label));
    return row < 0 ? undefined : rowOffset(s, l, row);
  };
  const paraphraseDistance = Array.from({ length: states }, (_, l) => {
    const distances = all.flatMap((s) => {
      if (!s.paraphraseOf) return [];
      const original = all.find((o) => o.concept === s.concept && o.sequence === s.paraphraseOf);
      if (!original) return [];
      const [a, b] = [statesOf(s), statesOf(original)];
      const [x, y] = [vectorAt(a, 'concept', l), vectorAt(b, 'concept', l)];
      return x === undefined || y === undefined ? [] : [cosineDistance(a.data, b.data, x, hidden, y)];
    });
    return distances.length > 0 ? nanFree(finiteMean(distances)) : null;
  });
  const structureGap = Array.from({ length: states }, (_, l) => {
    const gaps = legal.flatMap((s) => {
      const edges = concepts.find((c) => c.id === s.concept)?.structure;
      const st = statesOf(s);
      const labels = [...new Set(st.rows.filter((r) => r.kind === 'component').map((r) => r.label!))];
      if (!edges || labels.length < 3) return [];
      const related = new Set(edges.map(([a, b]) => [a, b].sort().join('|')));
      const [near, far]: [number[], number[]] = [[], []];
      for (let i = 0; i < labels.length; i++) {
        for (let j = i + 1; j < labels.length; j++) {
          const d = cosineDistance(st.data, st.data, vectorAt(st, 'component', l, labels[i]), hidden, vectorAt(st, 'component', l, labels[j]));
          (related.has([labels[i]!, labels[j]!].sort().join('|')) ? near : far).push(d);
        }
      }
      return near.length > 0 && far.length > 0 ? [finiteMean(near) - finiteMean(far)] : [];
    });
    return gaps.length > 0 ? nanFree(finiteMean(gaps)) : null;
  });
  return {
    model,
    // a concept's area moves with all its rows when labels are shuffled
    areaProbe: probes(withConcept.map((s) => area.get(s.concept) ?? ''), withConcept.map((s) => conceptIndex.get(s.concept)!), withConcept.map((s) => conceptIndex.get(s.concept)!)),
    conceptProbe: probes(withConcept.map((s) => s.concept), occurrence),
    paraphraseDistance,
    structureGap,
  };
}
