import type { SinkMode } from '../measure/attention-share.js';
import { describeDistribution, type Distribution } from '../measure/distribution.js';
import type { SequenceMeasures, TargetMeasures } from '../measure/measure-sequence.js';
import type { QuerySetKind } from '../measure/query-set.js';
import { chanceMeans, permutationPValues, type ControlDeltas } from './chance.js';
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
  /** Undefined when no sequence has room for a control span, or nothing is measurable. */
  pValue?: Float64Array;
  chanceDraws: number;
  distribution: Distribution;
  headsBeatingChance?: number;
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

function meanOverControls(m: TargetMeasures, heads: number): Float64Array {
  const out = new Float64Array(heads);
  for (let c = 0; c < m.controls; c++) for (let k = 0; k < heads; k++) out[k]! += m.controlShare[c * heads + k]! / m.controls;
  return m.controls > 0 ? out : out.fill(Number.NaN);
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
    const controlDeltas: ControlDeltas[][] = a.map((group, g) =>
      group.map((m, s) => ({ values: subtract(m.controlShare, b[g]![s]!.controlShare), controls: m.controls, observed: subtract(m.share, b[g]![s]!.share) })),
    );
    const chance = chanceMeans(controlDeltas, headCount, options.permutations, options.seed);
    const changes: PairChanges = {
      pair: pairName(pair),
      delta,
      relative: delta.map((d, k) => d / before.share[k]!),
      entropyDelta: subtract(after.entropy, before.entropy),
      rolloutDelta: subtract(after.rollout, before.rollout),
      chanceDraws: chance?.count ?? 0,
      distribution: describeDistribution(delta),
    };
    if (chance) {
      changes.pValue = permutationPValues(delta, chance);
      changes.headsBeatingChance = changes.pValue.filter((p) => p < options.alpha).length;
    }
    return changes;
  });
  return { scope, variant, sequences: groups.flat().map((s) => `${s.concept}/${s.sequence}`), skipped, models, pairs };
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
    pairs: options.pairs.map((pair) => ({ pair: pairName(pair), delta: empty(), relative: empty(), entropyDelta: empty(), rolloutDelta: layers(), chanceDraws: 0, distribution: describeDistribution([]) })),
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
  for (const s of legal) for (const v of variantsOf(s)) if (v.target === 'concept') overallVariants.set(variantKey(v), v);
  for (const variant of overallVariants.values()) {
    scopes.push(compareScope('*', variant, concepts.map((c) => legal.filter((s) => s.concept === c && measureOf(s, options.models[0]!, variant))), options, headCount));
  }
  const perSequence = sequences.flatMap((s) => variantsOf(s).map((variant) => compareScope(s.concept, variant, [[s]], options, headCount)));
  return { layers, heads: first?.heads ?? 0, scopes, sequences: perSequence };
}
