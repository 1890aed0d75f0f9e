import type { SinkMode } from '../measure/attention-share.js';
import { describeDistribution, type Distribution } from '../measure/distribution.js';
import { isConceptTarget, type Lens, type ReferenceShares, type SequenceMeasures, type TargetMeasures } from '../measure/measure-sequence.js';
import type { QuerySetKind } from '../measure/query-set.js';
import { controlLibrary } from '../reference/match.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { negativeControlRates, overallTest, testFamily, type ChanceTest, type NegativeControlRates, type OverallTest } from './chance.js';
import { SHARE_PRECISION } from './class-matched.js';
import { changeJudge, controlMatcher, type ChangeJudge, type ControlMatcher } from './judge.js';
import { pairName, type ModelPair } from '../options/pairs.js';
import { nestedMean, shareReplication, type Replication } from './replication.js';

/** One sequence measured under every model, by model name. */
export interface MeasuredSequence {
  concept: string;
  sequence: string;
  /** A control sequence (plain wording of another): measured on its own, left out of concept means. */
  paraphraseOf?: string;
  /** Its index in the run's reference plan. */
  index: number;
  byModel: Record<string, SequenceMeasures>;
}

export interface CompareOptions {
  models: readonly string[];
  pairs: readonly ModelPair[];
  seed: number;
  /** A head beats chance when its p-value is below alpha. */
  alpha: number;
  /** What every target is judged against: control runs and negative-control words of the run. */
  references: ReferencePlan;
}

export interface Variant {
  target: string;
  querySet: QuerySetKind;
  sink: SinkMode;
  /** Absent: `attention`, the plain share; `value`: the value-weighted share. */
  lens?: Lens;
}

const lensOf = (v: { lens?: Lens }): Lens => v.lens ?? 'attention';

/** Per-head arrays are `[layer × heads + head]`; per-layer arrays `[layer]`. */
export interface ModelShares {
  model: string;
  share: Float64Array;
  entropy: Float64Array;
  rollout: Float64Array;
  /** Mean share of the target's matched control runs, over the sequences that have any. */
  controlShare: Float64Array;
  /** Mean share of the target over those same sequences: the lift is this over `controlShare`. */
  controlledShare: Float64Array;
}

export interface PairChanges {
  pair: string;
  delta: Float64Array;
  relative: Float64Array;
  entropyDelta: Float64Array;
  rolloutDelta: Float64Array;
  /** The test against the negative-control null; absent for the overall scope, or where `untested` says why. */
  chance?: ChanceTest;
  untested?: string;
  /** Over all concepts: how many beat chance against how many chance gives, and their mean effect per head. */
  overall?: OverallTest & { effect: Float64Array };
  /** Bootstrap intervals of Δ and a sign-flip test of the effect over sequences (a concept) or concepts (overall); undefined for one sequence. */
  replication?: Replication;
  distribution: Distribution;
}

export interface SkippedSequence {
  /** `concept/sequence`. */
  sequence: string;
  reason: string;
}

/** A scope is one concept (its id) or all concepts (`*`, the concept target only). */
export interface ScopeComparison {
  scope: string;
  variant: Variant;
  /** The sequences measured (those whose query set is not empty). */
  sequences: string[];
  /**
   * Sequences left out, each with the reason: of every mean when their query set is
   * empty (a concept that ends its sequence has no query after it); of the control share
   * and lift when no control run of the target's width could be measured.
   */
  skipped: SkippedSequence[];
  /** Sequences measured but not judged: too few control runs of their class could be measured. */
  unjudged: string[];
  /** Why nothing of this scope is measurable; then shares and changes are empty, and no head beats chance. */
  unmeasurable?: string;
  models: ModelShares[];
  pairs: PairChanges[];
}

/** The run's own false-positive rates: its negative-control words tested as concepts are. */
export interface NegativeControlResult extends NegativeControlRates {
  querySet: QuerySetKind;
  sink: SinkMode;
  lens?: Lens;
  pair: string;
  /** Sequences per unit (the null of concepts of that many sequences). */
  sequences: number;
}

export interface Comparison {
  layers: number;
  heads: number;
  /** Per concept and overall, means over sequences (each concept weighs the same overall). */
  scopes: ScopeComparison[];
  /** The same for each sequence on its own. */
  sequences: ScopeComparison[];
  negativeControls: NegativeControlResult[];
}

type Reading = Pick<Variant, 'querySet' | 'sink' | 'lens'>;
const variantKey = (v: Reading): string => `${v.querySet}|${v.sink}|${lensOf(v)}`;

function measureOf(sequence: MeasuredSequence, model: string, variant: Variant): TargetMeasures | undefined {
  return sequence.byModel[model]?.measures.find((m) => m.target === variant.target && m.querySet === variant.querySet && m.sink === variant.sink && lensOf(m) === lensOf(variant));
}

const referencesOf = (sequence: MeasuredSequence | undefined, model: string, variant: Reading): ReferenceShares | undefined =>
  sequence?.byModel[model]?.referenceShares.find((r) => r.querySet === variant.querySet && r.sink === variant.sink && lensOf(r) === lensOf(variant));

/** Mean over groups of the mean over each group's arrays. */
const subtract = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array => Float64Array.from({ length: a.length }, (_, k) => a[k]! - b[k]!);

/**
 * What the targets of one query set and sink mode are judged by: the matched control
 * runs (shared by every model and pair) and, per pair, the reference spans' changes.
 */
interface VariantJudges {
  matcher: ControlMatcher;
  judge(pair: ModelPair): ChangeJudge;
}

function variantJudges(sequences: readonly MeasuredSequence[], variant: Reading, options: CompareOptions, headCount: number): VariantJudges {
  const plan = options.references;
  const first = options.models[0]!;
  const bySequence = new Map(sequences.map((s) => [s.index, s]));
  const library = controlLibrary(plan);
  // A run is measurable when its query set has a query (a run that ends its sequence has none under `outside`).
  const usable = (run: number): boolean => {
    const { sequence, span } = library.runs[run]!;
    const shares = referencesOf(bySequence.get(sequence), first, variant)?.share;
    return shares !== undefined && !Number.isNaN(shares[span * headCount]!);
  };
  const matcher = controlMatcher(plan, library, usable);
  const judges = new Map<string, ChangeJudge>();
  return {
    matcher,
    judge(pair) {
      let judge = judges.get(pairName(pair));
      if (!judge) {
        const changes = plan.sequences.map((_, k) => {
          const s = bySequence.get(k);
          const [a, b] = [referencesOf(s, pair.after, variant)?.share, referencesOf(s, pair.before, variant)?.share];
          return a && b ? subtract(a, b) : undefined;
        });
        judge = changeJudge(plan, matcher, { measures: headCount, precision: SHARE_PRECISION, bySequence: changes }, options.seed);
        judges.set(pairName(pair), judge);
      }
      return judge;
    },
  };
}

/** Mean share of a target's matched control runs in one model, per head. */
function matchedControlShare(judges: VariantJudges, sequences: ReadonlyMap<number, MeasuredSequence>, sequence: MeasuredSequence, tokens: readonly number[], model: string, variant: Variant, headCount: number): Float64Array {
  const runs = judges.matcher.runs(sequence.index, tokens);
  const out = new Float64Array(headCount).fill(runs.length > 0 ? 0 : Number.NaN);
  for (const run of runs) {
    const { sequence: k, span } = judges.matcher.library.runs[run]!;
    const shares = referencesOf(sequences.get(k), model, variant)!.share;
    for (let h = 0; h < headCount; h++) out[h]! += shares[span * headCount + h]! / runs.length;
  }
  return out;
}

/**
 * A target is measurable in a sequence when its query set has a query there: `after`
 * and `outside` are empty for a concept that ends its sequence. Such a sequence gives a
 * share of NaN, which must neither enter a mean nor look like a change beyond chance.
 */
const measurable = (sequence: MeasuredSequence, model: string, variant: Variant): boolean => (measureOf(sequence, model, variant)?.queries ?? 0) > 0;

const targetTokens = (sequence: MeasuredSequence, model: string, target: string): number[] => sequence.byModel[model]!.targets.find((t) => t.name === target)!.tokens;

const noQuery = (s: MeasuredSequence, variant: Variant): SkippedSequence => ({
  sequence: `${s.concept}/${s.sequence}`,
  reason: `no query in the ${variant.querySet} query set of ${variant.target}: left out of every mean`,
});

const noControls = (s: MeasuredSequence, variant: Variant, width: number): SkippedSequence => ({
  sequence: `${s.concept}/${s.sequence}`,
  reason: `no control run of ${width} tokens (the width of its ${variant.target} target) could be measured in any sequence of the run: left out of the control share and lift, which come from the other sequences`,
});

/** Mean over groups of the mean over each group's arrays, leaving out empty groups; NaN everywhere when all are empty. */
const meanOverSome = (groups: ReadonlyArray<readonly Float64Array[]>, length: number): Float64Array => {
  const kept = groups.filter((g) => g.length > 0);
  return kept.length > 0 ? nestedMean(kept) : new Float64Array(length).fill(Number.NaN);
};

interface ScopeContext {
  judges: VariantJudges;
  sequences: ReadonlyMap<number, MeasuredSequence>;
  options: CompareOptions;
  headCount: number;
}

/** A scope, and per pair the class-matched effects of its unit's sequences, still to be tested with the rest of its family. */
interface ScopeEffects {
  comparison: ScopeComparison;
  effects: Map<string, Float64Array[]>;
}

function compareScope(scope: string, variant: Variant, allGroups: ReadonlyArray<readonly MeasuredSequence[]>, context: ScopeContext): ScopeEffects {
  const { options, headCount } = context;
  const first = options.models[0]!;
  const skipped = allGroups.flat().filter((s) => !measurable(s, first, variant)).map((s) => noQuery(s, variant));
  const groups = allGroups.map((group) => group.filter((s) => measurable(s, first, variant))).filter((group) => group.length > 0);
  if (groups.length === 0) return { comparison: unmeasurableScope(scope, variant, skipped, options, headCount), effects: new Map() };
  const measuresOf = (model: string): TargetMeasures[][] => groups.map((group) => group.map((s) => measureOf(s, model, variant)!));
  const byModel = new Map(options.models.map((model) => [model, measuresOf(model)]));
  const layerCount = byModel.get(first)![0]![0]!.rollout.length;
  const tokensOf = (s: MeasuredSequence): number[] => targetTokens(s, first, variant.target);
  // A sequence with no measurable control run of its target's width has no control share: its lift is left out, not the concept's.
  const controlled = (s: MeasuredSequence): boolean => context.judges.matcher.runs(s.index, tokensOf(s)).length > 0;
  for (const s of groups.flat()) if (!controlled(s)) skipped.push(noControls(s, variant, tokensOf(s).length));
  const models = options.models.map((model): ModelShares => {
    const m = byModel.get(model)!;
    return {
      model,
      share: nestedMean(m.map((g) => g.map((x) => x.share))),
      entropy: nestedMean(m.map((g) => g.map((x) => x.entropy))),
      rollout: nestedMean(m.map((g) => g.map((x) => x.rollout))),
      controlShare: meanOverSome(groups.map((g) => g.filter(controlled).map((s) => matchedControlShare(context.judges, context.sequences, s, tokensOf(s), model, variant, headCount))), headCount),
      controlledShare: meanOverSome(groups.map((g, k) => g.flatMap((s, i) => (controlled(s) ? [m[k]![i]!.share] : []))), headCount),
    };
  });
  const sharesOf = new Map(models.map((m) => [m.model, m]));
  const unjudged = new Set<string>();
  const unitEffects = new Map<string, Float64Array[]>();
  const pairs = options.pairs.map((pair): PairChanges => {
    const after = sharesOf.get(pair.after)!;
    const before = sharesOf.get(pair.before)!;
    const delta = subtract(after.share, before.share);
    const [a, b] = [byModel.get(pair.after)!, byModel.get(pair.before)!];
    const judge = context.judges.judge(pair);
    const effects = groups.map((group, g) =>
      group.flatMap((s, k) => {
        const effect = judge.effectOf(s.index, tokensOf(s), subtract(a[g]![k]!.share, b[g]![k]!.share));
        if (effect.every(Number.isNaN)) unjudged.add(`${s.concept}/${s.sequence}`);
        return effect.every(Number.isNaN) ? [] : [effect];
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
    // one unit: a concept over its sequences, or one sequence, tested with its family; overall is judged from the concepts' own tests
    unitEffects.set(pairName(pair), effects[0] ?? []);
    const perSequence = a.map((group, g) => group.map((m, k) => subtract(m.share, b[g]![k]!.share)));
    const replication = shareReplication(perSequence, effects, layerCount, options);
    if (replication) changes.replication = replication;
    return changes;
  });
  return { comparison: { scope, variant, sequences: groups.flat().map((s) => `${s.concept}/${s.sequence}`), skipped, unjudged: [...unjudged], models, pairs }, effects: unitEffects };
}

/**
 * Tests the units of each family together (same target, query set and sink, per pair):
 * each concept (or sequence) against its negative-control null, located at the family's
 * own median. Returns the scopes, their tests filled in.
 */
function testFamilies(scopes: readonly ScopeEffects[], judgesOf: (variant: Variant) => VariantJudges, options: CompareOptions): ScopeComparison[] {
  const families = new Map<string, ScopeEffects[]>();
  for (const s of scopes) {
    const key = `${s.comparison.variant.target}|${variantKey(s.comparison.variant)}`;
    families.set(key, [...(families.get(key) ?? []), s]);
  }
  for (const members of families.values()) {
    const judges = judgesOf(members[0]!.comparison.variant);
    for (const pair of options.pairs) {
      const tested = members.filter((m) => !m.comparison.unmeasurable);
      const judge = judges.judge(pair);
      const results = testFamily(tested.map((m) => m.effects.get(pairName(pair)) ?? []), (k) => judge.nullFor(k), options.alpha);
      tested.forEach((m, u) => {
        const change = m.comparison.pairs.find((c) => c.pair === pairName(pair))!;
        const result = results[u]!;
        if (typeof result === 'string') change.untested = result;
        else change.chance = result;
      });
    }
  }
  return scopes.map((s) => s.comparison);
}

/** A scope none of whose sequences has a query in the query set: empty values, no p-value, the reason said. */
function unmeasurableScope(scope: string, variant: Variant, skipped: SkippedSequence[], options: CompareOptions, headCount: number): ScopeComparison {
  const empty = (): Float64Array => new Float64Array(headCount).fill(Number.NaN);
  const layers = (): Float64Array => new Float64Array(0);
  return {
    scope,
    variant,
    sequences: [],
    skipped,
    unjudged: [],
    unmeasurable: `no query in the ${variant.querySet} query set of ${variant.target} in any sequence (${skipped.map((s) => s.sequence).join(', ')})`,
    models: options.models.map((model) => ({ model, share: empty(), entropy: empty(), rollout: layers(), controlShare: empty(), controlledShare: empty() })),
    pairs: options.pairs.map((pair) => ({ pair: pairName(pair), delta: empty(), relative: empty(), entropyDelta: empty(), rolloutDelta: layers(), distribution: describeDistribution([]) })),
  };
}

/** Overall: the concepts' mean effect per head, and how many concepts beat chance against how many chance gives. */
function withOverallTest(overall: ScopeComparison, concepts: readonly ScopeComparison[], alpha: number): ScopeComparison {
  for (const change of overall.pairs) {
    const tests = concepts.flatMap((c) => c.pairs.filter((p) => p.pair === change.pair && p.chance).map((p) => p.chance!));
    const test = overallTest(tests.map((t) => t.countPValue), alpha);
    if (test) change.overall = { ...test, effect: nestedMean([tests.map((t) => t.effect)]) };
  }
  return overall;
}

/**
 * Compares measured models pair by pair: per-head change Δ = s_after − s_before, its
 * relative size, entropy and rollout changes, each target's change judged against
 * control runs of its class and against negative-control words of the same texts,
 * and the distribution of Δ over all heads; per sequence, per concept, and over all
 * concepts.
 */
export function compareModels(sequences: readonly MeasuredSequence[], options: CompareOptions): Comparison {
  const firstMeasures = sequences[0] ? Object.values(sequences[0].byModel)[0] : undefined;
  const layers = firstMeasures?.layers ?? 0;
  const headCount = layers * (firstMeasures?.heads ?? 0);
  const first = options.models[0]!;
  const variantsOf = (s: MeasuredSequence): Variant[] => (s.byModel[first]?.measures ?? []).map(({ target, querySet, sink, lens }) => ({ target, querySet, sink, ...(lens && lens !== 'attention' ? { lens } : {}) }));
  const byIndex = new Map(sequences.map((s) => [s.index, s]));
  const judges = new Map<string, VariantJudges>();
  const contextOf = (variant: Variant): ScopeContext => {
    let j = judges.get(variantKey(variant));
    if (!j) judges.set(variantKey(variant), (j = variantJudges(sequences, variant, options, headCount)));
    return { judges: j, sequences: byIndex, options, headCount };
  };

  const legal = sequences.filter((s) => !s.paraphraseOf);
  const concepts = [...new Set(legal.map((s) => s.concept))];
  const conceptScopes: ScopeEffects[] = [];
  for (const concept of concepts) {
    const members = legal.filter((s) => s.concept === concept);
    const variants = new Map<string, Variant>();
    for (const s of members) for (const v of variantsOf(s)) variants.set(`${v.target}|${variantKey(v)}`, v);
    for (const variant of variants.values()) conceptScopes.push(compareScope(concept, variant, [members.filter((s) => measureOf(s, first, variant))], contextOf(variant)));
  }
  const judgesOf = (variant: Variant): VariantJudges => contextOf(variant).judges;
  const scopes = testFamilies(conceptScopes, judgesOf, options);
  const overallVariants = new Map<string, Variant>();
  for (const s of legal) for (const v of variantsOf(s)) if (isConceptTarget(v.target)) overallVariants.set(`${v.target}|${variantKey(v)}`, v);
  for (const variant of overallVariants.values()) {
    const overall = compareScope('*', variant, concepts.map((c) => legal.filter((s) => s.concept === c && measureOf(s, first, variant))), contextOf(variant)).comparison;
    const conceptScopes = scopes.filter((s) => s.scope !== '*' && s.variant.target === variant.target && variantKey(s.variant) === variantKey(variant));
    scopes.push(withOverallTest(overall, conceptScopes, options.alpha));
  }
  const perSequence = testFamilies(sequences.flatMap((s) => variantsOf(s).map((variant) => compareScope(s.concept, variant, [[s]], contextOf(variant)))), judgesOf, options);
  const negativeControls = [...judges].flatMap(([key, j]) => {
    const [querySet, sink, lens] = key.split('|') as [QuerySetKind, SinkMode, Lens];
    return options.pairs.flatMap((pair) =>
      j.judge(pair).nulls().flatMap((nul) => {
        const rates = negativeControlRates([nul], options.alpha);
        return rates ? [{ querySet, sink, ...(lens !== 'attention' ? { lens } : {}), pair: pairName(pair), sequences: nul.sequences, ...rates }] : [];
      }),
    );
  });
  return { layers, heads: firstMeasures?.heads ?? 0, scopes, sequences: perSequence, negativeControls };
}
