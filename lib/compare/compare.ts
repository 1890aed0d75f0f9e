import type { SinkMode } from '../measure/attention-share.js';
import { describeDistribution, type Distribution } from '../measure/distribution.js';
import { isConceptTarget, type SequenceMeasures, type TargetMeasures } from '../measure/measure-sequence.js';
import type { QuerySetKind } from '../measure/query-set.js';
import { chanceTest, type ChanceTest } from './chance.js';
import { replicate, type Replication } from './replication.js';
import { standardiseByPosition, type SequenceChanges } from './position-matched.js';
import { pairName, type ModelPair } from './pairs.js';

/** One sequence measured under every model, by model name. */
export interface MeasuredSequence {
  concept: string;
  sequence: string;
  /** A control sequence (plain wording of another): measured on its own, left out of concept means. */
  paraphraseOf?: string;
  byModel: Record<string, SequenceMeasures>;
}

export interface CompareOptions {
  models: readonly string[];
  pairs: readonly ModelPair[];
  /** Chance draws for a p-value when the combinations of controls are more than this. */
  permutations: number;
  seed: number;
  /** A head beats chance when its p-value is below alpha. */
  alpha: number;
}

export interface Variant {
  target: string;
  querySet: QuerySetKind;
  sink: SinkMode;
}

/** Per-head arrays are `[layer × heads + head]`; per-layer arrays `[layer]`. */
export interface ModelShares {
  model: string;
  share: Float64Array;
  entropy: Float64Array;
  rollout: Float64Array;
  /** Mean share of the control spans. */
  controlShare: Float64Array;
}

export interface PairChanges {
  pair: string;
  delta: Float64Array;
  relative: Float64Array;
  entropyDelta: Float64Array;
  rolloutDelta: Float64Array;
  /** The test against position-matched controls; undefined when no sequence has enough controls, or nothing is measurable. */
  chance?: ChanceTest;
  /** Bootstrap intervals and a sign-flip test over sequences (a concept) or concepts (overall); undefined for one sequence. */
  replication?: Replication;
  distribution: Distribution;
}

/** A scope is one concept (its id) or all concepts (`*`, the concept target only). */
export interface ScopeComparison {
  scope: string;
  variant: Variant;
  /** The sequences measured (those whose query set is not empty). */
  sequences: string[];
  /** Sequences left out because their query set is empty (a concept that ends its sequence has no query after it). */
  skipped: string[];
  /** Why nothing of this scope is measurable; then shares and changes are empty, and no head beats chance. */
  unmeasurable?: string;
  models: ModelShares[];
  pairs: PairChanges[];
}

export interface Comparison {
  layers: number;
  heads: number;
  /** Per concept and overall, means over sequences (each concept weighs the same overall). */
  scopes: ScopeComparison[];
  /** The same for each sequence on its own. */
  sequences: ScopeComparison[];
}

const variantKey = (v: Variant): string => `${v.target}|${v.querySet}|${v.sink}`;

function measureOf(sequence: MeasuredSequence, model: string, variant: Variant): TargetMeasures | undefined {
  return sequence.byModel[model]?.measures.find((m) => m.target === variant.target && m.querySet === variant.querySet && m.sink === variant.sink);
}

/** Mean over groups of the mean over each group's arrays. */
function nestedMean(groups: ReadonlyArray<readonly Float64Array[]>): Float64Array {
  const length = groups[0]?.[0]?.length ?? 0;
  const out = new Float64Array(length);
  for (const group of groups) for (const array of group) for (let k = 0; k < length; k++) out[k]! += array[k]! / group.length / groups.length;
  return out;
}

const subtract = (a: Float64Array, b: Float64Array): Float64Array => a.map((v, k) => v - b[k]!);

/** Mean share of the controls that were measured (a control with no query in the query set has none). */
function meanOverControls(m: TargetMeasures, heads: number): Float64Array {
  const out = new Float64Array(heads);
  for (let k = 0; k < heads; k++) {
    let sum = 0;
    let n = 0;
    for (let c = 0; c < m.controls; c++) {
      const v = m.controlShare[c * heads + k]!;
      if (!Number.isNaN(v)) {
        sum += v;
        n++;
      }
    }
    out[k] = n > 0 ? sum / n : Number.NaN;
  }
  return out;
}

/**
 * A target is measurable in a sequence when its query set has a query there: `after`
 * and `outside` are empty for a concept that ends its sequence. Such a sequence gives a
 * share of NaN, which must neither enter a mean nor look like a change beyond chance.
 */
const measurable = (sequence: MeasuredSequence, model: string, variant: Variant): boolean => (measureOf(sequence, model, variant)?.queries ?? 0) > 0;

function compareScope(scope: string, variant: Variant, allGroups: ReadonlyArray<readonly MeasuredSequence[]>, options: CompareOptions, headCount: number): ScopeComparison {
  const first = options.models[0]!;
  const skipped = allGroups.flat().filter((s) => !measurable(s, first, variant)).map((s) => `${s.concept}/${s.sequence}`);
  const groups = allGroups.map((group) => group.filter((s) => measurable(s, first, variant))).filter((group) => group.length > 0);
  if (groups.length === 0) return unmeasurableScope(scope, variant, skipped, options, headCount);
  const measuresOf = (model: string): TargetMeasures[][] => groups.map((group) => group.map((s) => measureOf(s, model, variant)!));
  const byModel = new Map(options.models.map((model) => [model, measuresOf(model)]));
  // rollout is per layer
  const layerCount = byModel.get(first)![0]![0]!.rollout.length;
  const models = options.models.map((model): ModelShares => {
    const m = byModel.get(model)!;
    return {
      model,
      share: nestedMean(m.map((g) => g.map((x) => x.share))),
      entropy: nestedMean(m.map((g) => g.map((x) => x.entropy))),
      rollout: nestedMean(m.map((g) => g.map((x) => x.rollout))),
      controlShare: nestedMean(m.map((g) => g.map((x) => meanOverControls(x, headCount)))),
    };
  });
  const sharesOf = new Map(models.map((m) => [m.model, m]));
  const pairs = options.pairs.map((pair): PairChanges => {
    const after = sharesOf.get(pair.after)!;
    const before = sharesOf.get(pair.before)!;
    const delta = subtract(after.share, before.share);
    const a = byModel.get(pair.after)!;
    const b = byModel.get(pair.before)!;
    const standardised = groups.map((group, g) =>
      group.flatMap((sequence, s) => {
        const changes = sequenceChanges(sequence, first, variant, a[g]![s]!, b[g]![s]!);
        const z = standardiseByPosition(changes, headCount);
        return z ? [z] : [];
      }),
    );
    const changes: PairChanges = {
      pair: pairName(pair),
      delta,
      relative: delta.map((d, k) => d / before.share[k]!),
      entropyDelta: subtract(after.entropy, before.entropy),
      rolloutDelta: subtract(after.rollout, before.rollout),
      distribution: describeDistribution(delta),
    };
    const chance = chanceTest(standardised, headCount, { draws: options.permutations, seed: options.seed, alpha: options.alpha });
    if (chance) changes.chance = chance;
    const replication = replicationOf(a, b, layerCount, options);
    if (replication) changes.replication = replication;
    return changes;
  });
  return { scope, variant, sequences: groups.flat().map((s) => `${s.concept}/${s.sequence}`), skipped, models, pairs };
}

/** The target's and its controls' changes in one sequence, with where each sits. */
function sequenceChanges(sequence: MeasuredSequence, model: string, variant: Variant, after: TargetMeasures, before: TargetMeasures): SequenceChanges {
  const measured = sequence.byModel[model]!;
  const target = measured.targets.find((t) => t.name === variant.target)!;
  return {
    observed: subtract(after.share, before.share),
    controls: subtract(after.controlShare, before.controlShare),
    target: target.tokens,
    controlSpans: measured.controlSpans[variant.target] ?? [],
  };
}

/** Resamples for the bootstrap intervals: enough for 95 % percentile ends, cheap at thousands of heads. */
const BOOTSTRAP_RESAMPLES = 1000;

/** Replication over a concept's sequences, or over the concepts when there are several groups. */
function replicationOf(after: TargetMeasures[][], before: TargetMeasures[][], layers: number, options: CompareOptions): Replication | undefined {
  const perSequence = after.map((group, g) => group.map((m, s) => subtract(m.share, before[g]![s]!.share)));
  const settings = { resamples: BOOTSTRAP_RESAMPLES, seed: options.seed, alpha: options.alpha };
  if (perSequence.length > 1) return replicate('concept', perSequence.map((group) => nestedMean([group])), layers, settings);
  const sequences = perSequence[0] ?? [];
  return sequences.length > 1 ? replicate('sequence', sequences, layers, settings) : undefined;
}

/** A scope none of whose sequences has a query in the query set: empty values, no p-value, the reason said. */
function unmeasurableScope(scope: string, variant: Variant, skipped: string[], options: CompareOptions, headCount: number): ScopeComparison {
  const empty = (): Float64Array => new Float64Array(headCount).fill(Number.NaN);
  const layers = (): Float64Array => new Float64Array(0);
  return {
    scope,
    variant,
    sequences: [],
    skipped,
    unmeasurable: `no query in the ${variant.querySet} query set of ${variant.target} in any sequence (${skipped.join(', ')})`,
    models: options.models.map((model) => ({ model, share: empty(), entropy: empty(), rollout: layers(), controlShare: empty() })),
    pairs: options.pairs.map((pair) => ({ pair: pairName(pair), delta: empty(), relative: empty(), entropyDelta: empty(), rolloutDelta: layers(), distribution: describeDistribution([]) })),
  };
}

/**
 * Compares measured models pair by pair: per-head change Δ = s_after − s_before, its
 * relative size, entropy and rollout changes, a permutation p-value against control
 * spans, and the distribution of Δ over all heads; per sequence, per concept, and
 * over all concepts.
 */
export function compareModels(sequences: readonly MeasuredSequence[], options: CompareOptions): Comparison {
  const first = sequences[0] ? Object.values(sequences[0].byModel)[0] : undefined;
  const layers = first?.layers ?? 0;
  const headCount = layers * (first?.heads ?? 0);
  const variantsOf = (s: MeasuredSequence): Variant[] =>
    (s.byModel[options.models[0]!]?.measures ?? []).map(({ target, querySet, sink }) => ({ target, querySet, sink }));

  const legal = sequences.filter((s) => !s.paraphraseOf);
  const concepts = [...new Set(legal.map((s) => s.concept))];
  const scopes: ScopeComparison[] = [];
  for (const concept of concepts) {
    const members = legal.filter((s) => s.concept === concept);
    const variants = new Map<string, Variant>();
    for (const s of members) for (const v of variantsOf(s)) variants.set(variantKey(v), v);
    for (const variant of variants.values()) {
      const group = members.filter((s) => measureOf(s, options.models[0]!, variant));
      scopes.push(compareScope(concept, variant, [group], options, headCount));
    }
  }
  const overallVariants = new Map<string, Variant>();
  for (const s of legal) for (const v of variantsOf(s)) if (isConceptTarget(v.target)) overallVariants.set(variantKey(v), v);
  for (const variant of overallVariants.values()) {
    scopes.push(compareScope('*', variant, concepts.map((c) => legal.filter((s) => s.concept === c && measureOf(s, options.models[0]!, variant))), options, headCount));
  }
  const perSequence = sequences.flatMap((s) => variantsOf(s).map((variant) => compareScope(s.concept, variant, [[s]], options, headCount)));
  return { layers, heads: first?.heads ?? 0, scopes, sequences: perSequence };
}
