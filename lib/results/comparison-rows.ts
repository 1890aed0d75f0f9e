import { finiteMean } from '../measure/distribution.js';
import type { ChanceTest } from '../compare/chance.js';
import type { Replication } from '../compare/replication.js';
import type { Comparison, ModelShares, PairChanges, ScopeComparison } from '../compare/compare.js';
import type { StructureResult, WordingContrast } from '../compare/structure-comparison.js';
import type { StructureTest } from '../compare/structure-test.js';

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Mean over the heads of each layer of a `[layer × heads + head]` array. */
export function perLayer(values: Float64Array, layers: number): number[] {
  const heads = values.length / Math.max(layers, 1);
  return Array.from({ length: layers }, (_, l) => finiteMean(values.subarray(l * heads, (l + 1) * heads)));
}

export interface HeadRef {
  layer: number;
  head: number;
  delta: number | null;
  relative: number | null;
  effect: number | null;
  pValue: number | null;
  qValue: number | null;
}

/** The heads whose share moved most, largest |Δ| first. */
export function headsMovedMost(change: PairChanges, heads: number, count = 5): HeadRef[] {
  return Array.from(change.delta.keys())
    .filter((k) => Number.isFinite(change.delta[k]!))
    .sort((a, b) => Math.abs(change.delta[b]!) - Math.abs(change.delta[a]!) || a - b)
    .slice(0, count)
    .map((k) => ({
      layer: Math.floor(k / heads),
      head: k % heads,
      delta: finite(change.delta[k]!),
      relative: finite(change.relative[k]!),
      effect: change.chance ? finite(change.chance.effect[k]!) : null,
      pValue: change.chance ? finite(change.chance.pValue[k]!) : null,
      qValue: change.chance ? finite(change.chance.qValue[k]!) : null,
    }));
}

function modelSummary(m: ModelShares, layers: number) {
  const share = finiteMean(m.share);
  const control = finiteMean(m.controlShare);
  return {
    share: finite(share),
    sharePerLayer: perLayer(m.share, layers).map(finite),
    controlShare: finite(control),
    // over the sequences that have control runs (those without are in `skipped`)
    lift: finite(finiteMean(m.controlledShare) / control),
    entropy: finite(finiteMean(m.entropy)),
    rollout: finite(m.rollout[layers - 1] ?? Number.NaN),
    rolloutPerLayer: Array.from(m.rollout, finite),
  };
}

const countBelow = (values: Float64Array | undefined, alpha: number): number | null => (values ? values.filter((v) => v < alpha).length : null);

function changeSummary(c: PairChanges, layers: number, heads: number, alpha: number) {
  const d = c.distribution;
  const chance = c.chance;
  return {
    heads: d.n,
    meanDelta: finite(d.mean),
    medianDelta: finite(d.median),
    sd: finite(d.sd),
    skewness: finite(d.skewness),
    skewnessAdjusted: finite(d.skewnessAdjusted),
    kurtosis: finite(d.kurtosis),
    kurtosisAdjusted: finite(d.kurtosisAdjusted),
    fractionRose: finite(d.fractionRose),
    meanRelative: finite(finiteMean(c.relative)),
    meanEffect: chance ? finite(finiteMean(chance.effect)) : c.overall ? finite(finiteMean(c.overall.effect)) : null,
    headsBeatingChance: chance?.headsBeatingChance ?? null,
    expectedByChance: chance ? Number(chance.expectedByChance.toPrecision(3)) : null,
    countPValue: chance ? finite(chance.countPValue) : null,
    headsBelowQ: countBelow(chance?.qValue, alpha),
    headsBelowFamilyP: countBelow(chance?.familyPValue, alpha),
    // the negative-control words the unit was judged against (none: `untested` says why)
    nullWords: chance?.nullWords ?? 0,
    ...(c.untested ? { untested: c.untested } : {}),
    // over all concepts: how many beat chance against how many chance gives (binomial)
    ...(c.overall ? { conceptsBeatingChance: c.overall.conceptsBeatingChance, concepts: c.overall.concepts, conceptsExpectedByChance: Number(c.overall.expectedByChance.toPrecision(3)), conceptsPValue: finite(c.overall.pValue) } : {}),
    replication: c.replication ?? null,
    entropyDelta: finite(finiteMean(c.entropyDelta)),
    rolloutDelta: finite(c.rolloutDelta[layers - 1] ?? Number.NaN),
    deltaPerLayer: perLayer(c.delta, layers).map(finite),
    movedMost: headsMovedMost(c, heads),
  };
}

/** The summary.json entry of one scope and variant. */
export function scopeSummary(scope: ScopeComparison, comparison: Comparison, alpha: number) {
  const { layers, heads } = comparison;
  return {
    target: scope.variant.target,
    querySet: scope.variant.querySet,
    sink: scope.variant.sink,
    ...(scope.variant.lens === 'value' ? { lens: scope.variant.lens } : {}),
    sequences: scope.sequences,
    // Sequences left out, each with the reason: of the means (empty query set), or of the control share and lift (no control run).
    skipped: scope.skipped,
    // Measured but not judged: too few control runs of their class could be measured.
    unjudged: scope.unjudged,
    ...(scope.unmeasurable ? { unmeasurable: scope.unmeasurable } : {}),
    models: Object.fromEntries(scope.models.map((m) => [m.model, modelSummary(m, layers)])),
    changes: Object.fromEntries(scope.pairs.map((c) => [c.pair, changeSummary(c, layers, heads, alpha)])),
  };
}

/** The sequence of a per-sequence scope, measured or left out. */
const sequenceOf = (scope: ScopeComparison): string => [...scope.sequences, ...scope.skipped.map((s) => s.sequence)][0]?.split('/')[1] ?? '';

type Cell = string | number | null;
const cell = (v: number): Cell => (Number.isFinite(v) ? v : null);
/** The `lens` column, last in every file so that rows keep their prefix. */
const lensCell = (scope: ScopeComparison): Cell => scope.variant.lens ?? 'attention';

/** shares.csv: one row per concept, sequence, target, query set, sink, model, layer and head. */
export function shareRows(comparison: Comparison): Cell[][] {
  const { layers, heads } = comparison;
  const rows: Cell[][] = [['concept', 'sequence', 'target', 'query_set', 'sink', 'model', 'layer', 'head', 'share', 'entropy', 'control_share', 'lift', 'lens']];
  for (const scope of comparison.sequences) {
    const sequence = sequenceOf(scope);
    for (const m of scope.models) {
      for (let k = 0; k < layers * heads; k++) {
        rows.push([scope.scope, sequence, scope.variant.target, scope.variant.querySet, scope.variant.sink, m.model, Math.floor(k / heads), k % heads, cell(m.share[k]!), cell(m.entropy[k]!), cell(m.controlShare[k]!), cell(m.share[k]! / m.controlShare[k]!), lensCell(scope)]);
      }
    }
  }
  return rows;
}

const chanceCells = (change: PairChanges, k: number): Cell[] => {
  const chance: ChanceTest | undefined = change.chance;
  if (chance) return [cell(chance.effect[k]!), cell(chance.pValue[k]!), cell(chance.qValue[k]!), cell(chance.familyPValue[k]!)];
  return [change.overall ? cell(change.overall.effect[k]!) : null, null, null, null];
};

/** changes.csv: per head, for each sequence, each concept (sequence `*`) and overall (concept `*`). */
export function changeRows(comparison: Comparison): Cell[][] {
  const { layers, heads } = comparison;
  const rows: Cell[][] = [['concept', 'sequence', 'target', 'query_set', 'sink', 'pair', 'layer', 'head', 'share_before', 'share_after', 'delta', 'relative', 'entropy_delta', 'effect', 'p_value', 'q_value', 'family_p_value', 'lens']];
  const emit = (scope: ScopeComparison, sequence: string) => {
    const shares = new Map(scope.models.map((m) => [m.model, m.share]));
    for (const c of scope.pairs) {
      const [after = '', before = ''] = c.pair.split(':');
      for (let k = 0; k < layers * heads; k++) {
        rows.push([scope.scope, sequence, scope.variant.target, scope.variant.querySet, scope.variant.sink, c.pair, Math.floor(k / heads), k % heads, cell(shares.get(before)![k]!), cell(shares.get(after)![k]!), cell(c.delta[k]!), cell(c.relative[k]!), cell(c.entropyDelta[k]!), ...chanceCells(c, k), lensCell(scope)]);
      }
    }
  };
  for (const scope of comparison.sequences) emit(scope, sequenceOf(scope));
  for (const scope of comparison.scopes) emit(scope, '*');
  return rows;
}

const replicationCells = (r: Replication | undefined): Cell[] =>
  r ? [r.unit, r.units, r.meanDelta.low, r.meanDelta.high, r.skewness.low, r.skewness.high, r.signFlip.pValue] : [null, null, null, null, null, null, null];

/** stats.csv: the distribution of Δ over heads, per concept (and `*` overall), target, query set, sink and pair. */
export function statRows(comparison: Comparison, alpha: number): Cell[][] {
  const header = ['concept', 'target', 'query_set', 'sink', 'pair', 'sequences', 'heads', 'mean', 'median', 'sd', 'skewness', 'skewness_adjusted', 'kurtosis', 'kurtosis_adjusted', 'fraction_rose', 'mean_relative', 'mean_effect', 'heads_beating_chance', 'expected_by_chance', 'count_p_value', 'heads_below_q', 'heads_below_family_p', 'null_words', 'concepts_beating_chance', 'concepts_p_value', 'replication_unit', 'units', 'mean_low', 'mean_high', 'skewness_low', 'skewness_high', 'sign_flip_p', 'entropy_delta', 'rollout_delta', 'lens'];
  const rows: Cell[][] = [header];
  for (const scope of comparison.scopes) {
    for (const c of scope.pairs) {
      const s = changeSummary(c, comparison.layers, comparison.heads, alpha);
      rows.push([scope.scope, scope.variant.target, scope.variant.querySet, scope.variant.sink, c.pair, scope.sequences.length, s.heads, s.meanDelta, s.medianDelta, s.sd, s.skewness, s.skewnessAdjusted, s.kurtosis, s.kurtosisAdjusted, s.fractionRose, s.meanRelative, s.meanEffect, s.headsBeatingChance, s.expectedByChance, s.countPValue, s.headsBelowQ, s.headsBelowFamilyP, s.nullWords, s.conceptsBeatingChance ?? null, s.conceptsPValue ?? null, ...replicationCells(c.replication), s.entropyDelta, s.rolloutDelta, lensCell(scope)]);
    }
  }
  return rows;
}

/** layers.csv: share, entropy and rollout by layer (mean over heads), per concept (and `*`) and model. */
export function layerRows(comparison: Comparison): Cell[][] {
  const rows: Cell[][] = [['concept', 'target', 'query_set', 'sink', 'model', 'layer', 'share', 'entropy', 'rollout', 'lens']];
  for (const scope of comparison.scopes) {
    for (const m of scope.models) {
      const share = perLayer(m.share, comparison.layers);
      const entropy = perLayer(m.entropy, comparison.layers);
      share.forEach((s, l) => rows.push([scope.scope, scope.variant.target, scope.variant.querySet, scope.variant.sink, m.model, l, cell(s), cell(entropy[l]!), cell(m.rollout[l]!), lensCell(scope)]));
    }
  }
  return rows;
}

/** structure.csv: structure alignment per concept with declared components, model and pair. */
export function structureRows(structures: ReadonlyMap<string, StructureResult>, models: readonly string[], pairs: readonly string[]): Cell[][] {
  const rows: Cell[][] = [['concept', 'model', 'pair', 'components', 'edges', 'alignment', 'declared', 'undeclared', 'alignment_delta', 'adjusted_alignment', 'p_value', 'smallest_p', 'draws']];
  const test = (t: StructureTest | null | undefined): Cell[] => (t ? [cell(t.statistic), t.pValue, t.smallestPossible, t.draws] : [null, null, null, null]);
  for (const [concept, s] of structures) {
    for (const model of models) {
      const m = s.models[model]!;
      rows.push([concept, model, '', s.components.join(' '), s.edges.map((e) => e.join('-')).join(' '), m.alignment, m.declared, m.undeclared, null, ...test(m.test)]);
    }
    for (const pair of pairs) rows.push([concept, '', pair, s.components.join(' '), s.edges.map((e) => e.join('-')).join(' '), null, null, null, s.changes[pair]?.alignmentDelta ?? null, ...test(s.changes[pair]?.test)]);
  }
  return rows;
}

/** wording.csv: legal wording vs its plain paraphrase, per concept, pair of sequences and model. */
export function wordingRows(wording: ReadonlyMap<string, readonly WordingContrast[]>, models: readonly string[], pairs: readonly string[]): Cell[][] {
  const rows: Cell[][] = [['concept', 'legal_sequence', 'plain_sequence', 'model', 'pair', 'share_legal', 'share_plain', 'contrast', 'contrast_delta']];
  for (const [concept, list] of wording) {
    for (const w of list) {
      for (const model of models) rows.push([concept, w.legal, w.plain, model, '', w.models[model]?.legal ?? null, w.models[model]?.plain ?? null, w.models[model]?.contrast ?? null, null]);
      for (const pair of pairs) rows.push([concept, w.legal, w.plain, '', pair, null, null, null, w.changes[pair]?.contrastDelta ?? null]);
    }
  }
  return rows;
}

