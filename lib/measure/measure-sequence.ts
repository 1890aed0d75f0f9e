import type { Float32Tensor } from '../io/npy.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { conceptTokens, tokensByRule, type SpanRule } from '../tokenize/align-spans.js';
import { attentionShare, type SinkMode } from './attention-share.js';
import type { ReferenceSpan } from '../reference/reference-spans.js';
import { componentAttentionOfRows, componentTokens } from './component-attention.js';
import { attentionEntropy } from './entropy.js';
import { headMean } from './head-mean.js';
import { querySet, type QuerySetKind } from './query-set.js';
import { rolloutConceptMass, rolloutShare } from './rollout.js';

export interface MeasureOptions {
  querySets: readonly QuerySetKind[];
  sinks: readonly SinkMode[];
  /** Weight of the residual identity in rollout (Abnar & Zuidema use 0.5). */
  rolloutResidual: number;
  /** Span rules to measure the concept under: `concept` is by overlap, `concept@majority` by majority of characters. */
  spanTokens?: readonly SpanRule[];
}

/** What a share is taken on: the concept (the union of its spans) or one labelled component. */
export interface Target {
  name: string;
  tokens: number[];
}

/**
 * What a share is taken of: `attention`, the probabilities α_ij; `value`, the norm-based
 * view (Kobayashi et al. 2020), α_ij weighed by ‖v_j W_O^h‖, what key j moves into the head's output.
 */
export type Lens = 'attention' | 'value';

/** Whether a measure, scope or row is of the plain attention share (no `lens`, or `attention`): the views built before the value lens read only these. */
export const isAttentionLens = (v: { lens?: string | undefined }): boolean => (v.lens ?? 'attention') === 'attention';

/** The measures of one target under one query set and sink mode; per head arrays are `[layer × heads + head]`. */
export interface TargetMeasures {
  target: string;
  querySet: QuerySetKind;
  sink: SinkMode;
  /** Absent: `attention`. The value lens has no entropy or rollout (NaN). */
  lens?: Lens;
  queries: number;
  share: Float64Array;
  entropy: Float64Array;
  /** Rollout share on the target after each layer, `[layers]`. */
  rollout: Float64Array;
}

/** The shares of a sequence's reference spans under one query set and sink mode, `[spans × layers × heads]` (NaN where a span's query set is empty). */
export interface ReferenceShares {
  querySet: QuerySetKind;
  sink: SinkMode;
  /** Absent: `attention`. */
  lens?: Lens;
  share: Float32Array;
}

/** Component × component attention of one sequence, head-averaged, per layer. */
export interface ComponentMeasures {
  labels: string[];
  /** `[layer × n × n]`, M[a][b] = mean over queries in a of the mass on b. */
  perLayer: Float64Array;
}

export interface SequenceMeasures {
  layers: number;
  heads: number;
  tokens: number;
  components?: ComponentMeasures;
  targets: Target[];
  measures: TargetMeasures[];
  /** The spans the targets are judged against (control runs, negative-control words), as the run's reference plan gives them. */
  references: ReferenceSpan[];
  referenceShares: ReferenceShares[];
}

/** The name of the concept target under a span rule: one name, one rule. */
export const conceptTarget = (rule: SpanRule): string => (rule === 'overlap' ? 'concept' : `concept@${rule}`);

/** Whether a target is the concept (under any span rule) rather than a component. */
export const isConceptTarget = (name: string): boolean => name === 'concept' || name.startsWith('concept@');

/**
 * The concept (union of spans) under each span rule asked for, and, where spans carry
 * labels, each labelled component (by overlap).
 */
export function targetsOf(spans: readonly TokenSpan[], rules: readonly SpanRule[] = ['overlap']): Target[] {
  const targets: Target[] = rules.map((rule) => ({ name: conceptTarget(rule), tokens: [...new Set(spans.flatMap((s) => tokensByRule(s, rule)))].sort((a, b) => a - b) }));
  const labels = [...new Set(spans.flatMap((s) => (s.label ? [s.label] : [])))].sort();
  for (const label of labels) targets.push({ name: `component:${label}`, tokens: conceptTokens(spans.filter((s) => s.label === label)) });
  return targets;
}

/** One target under one query set and sink mode, with its queries. */
export interface QueryPlan {
  target: Target;
  /** Index of the target in `targets`. */
  index: number;
  kind: QuerySetKind;
  sink: SinkMode;
  queries: number[];
}

/** What one head gives under one variant: its share and its entropy. */
export interface HeadMeasures {
  share: number;
  entropy: number;
}

/** A reference span under one query set and sink mode, with its queries and index among the references. */
export interface ReferenceQuery {
  tokens: readonly number[];
  index: number;
  kind: QuerySetKind;
  sink: SinkMode;
  queries: number[];
}

/**
 * The loop both measuring paths share (from full maps and from in-graph reductions):
 * every target × query set × sink mode, every layer and head, and the rollout share by
 * layer; `head` and `rollout` say how each is read off the path's own data.
 */
export function measureVariants(
  shape: { layers: number; heads: number; tokens: number },
  targets: readonly Target[],
  options: MeasureOptions,
  head: (variant: QueryPlan, layer: number, head: number) => HeadMeasures,
  rollout: (variant: QueryPlan, layer: number, queries: readonly number[]) => number,
): TargetMeasures[] {
  const { layers, heads, tokens } = shape;
  const measures: TargetMeasures[] = [];
  targets.forEach((target, index) => {
    for (const kind of options.querySets) {
      const queries = querySet(kind, tokens, target.tokens);
      for (const sink of options.sinks) {
        const variant: QueryPlan = { target, index, kind, sink, queries };
        const share = new Float64Array(layers * heads);
        const entropy = new Float64Array(layers * heads);
        for (let l = 0; l < layers; l++) {
          for (let h = 0; h < heads; h++) {
            const measured = head(variant, l, h);
            share[l * heads + h] = measured.share;
            entropy[l * heads + h] = measured.entropy;
          }
        }
        const rolloutQueries = sink === 'exclude' ? queries.filter((i) => i > 0) : queries;
        const byLayer = Float64Array.from({ length: layers }, (_, l) => rollout(variant, l, rolloutQueries));
        measures.push({ target: target.name, querySet: kind, sink, queries: queries.length, share, entropy, rollout: byLayer });
      }
    }
  });
  return measures;
}

/**
 * The shares of every reference span under every query set and sink mode, each span
 * taking the queries its own position gives (as a target's do); `shareOf` reads one
 * span's share of one head off the path's own data.
 */
export function measureReferences(
  shape: { layers: number; heads: number; tokens: number },
  references: readonly ReferenceSpan[],
  options: MeasureOptions,
  shareOf: (span: ReferenceQuery, layer: number, head: number) => number,
): ReferenceShares[] {
  const { layers, heads, tokens } = shape;
  const size = layers * heads;
  return options.querySets.flatMap((kind) => {
    const queries = references.map((r) => querySet(kind, tokens, r.tokens));
    return options.sinks.map((sink): ReferenceShares => {
      const share = new Float32Array(references.length * size);
      references.forEach((r, index) => {
        const span: ReferenceQuery = { tokens: r.tokens, index, kind, sink, queries: queries[index]! };
        for (let l = 0; l < layers; l++) for (let h = 0; h < heads; h++) share[index * size + l * heads + h] = shareOf(span, l, h);
      });
      return { querySet: kind, sink, share };
    });
  });
}

/**
 * Reduces one sequence's `[layers, heads, T, T]` attention to every measure compare
 * needs (shares, entropies, rollout, control shares), so the map can be dropped
 * before the next sequence is read.
 */
export function measureSequence(attention: Float32Tensor, spans: readonly TokenSpan[], options: MeasureOptions, references: readonly ReferenceSpan[] = []): SequenceMeasures {
  const [layers = 0, heads = 0, tokens = 0] = attention.dims;
  const size = tokens * tokens;
  const headMap = (l: number, h: number): Float32Array => attention.data.subarray((l * heads + h) * size, (l * heads + h + 1) * size);
  const targets = targetsOf(spans, options.spanTokens);
  const masses = targets.map((t) => rolloutConceptMass(attention, t.tokens, options.rolloutResidual));
  const shape = { layers, heads, tokens };
  const measures = measureVariants(
    shape,
    targets,
    options,
    (v, l, h) => {
      const map = headMap(l, h);
      return { share: attentionShare(map, tokens, v.target.tokens, v.queries, v.sink), entropy: attentionEntropy(map, tokens, v.queries) };
    },
    (v, l, queries) => rolloutShare(masses[v.index]!, l, queries),
  );
  const referenceShares = measureReferences(shape, references, options, (r, l, h) => attentionShare(headMap(l, h), tokens, r.tokens, r.queries, r.sink));
  const result: SequenceMeasures = { layers, heads, tokens, targets, measures, references: [...references], referenceShares };
  const parts = componentTokens(spans);
  const mean = parts.length >= 2 ? headMean(attention) : undefined;
  const components = componentMeasures(layers, parts, (l, i, b) => parts[b]!.tokens.reduce((acc, j) => acc + mean!.data[l * size + i * tokens + j]!, 0));
  if (components) result.components = components;
  return result;
}

/** Component matrices of each layer, from what query i puts on component b in layer l; none with fewer than two components. */
export function componentMeasures(layers: number, parts: ReadonlyArray<{ label: string; tokens: readonly number[] }>, massOn: (layer: number, query: number, component: number) => number): ComponentMeasures | undefined {
  if (parts.length < 2) return undefined;
  const n = parts.length;
  const perLayer = new Float64Array(layers * n * n);
  for (let l = 0; l < layers; l++) perLayer.set(componentAttentionOfRows(parts, (i, b) => massOn(l, i, b)), l * n * n);
  return { labels: parts.map((p) => p.label), perLayer };
}
