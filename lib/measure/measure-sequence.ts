import type { Float32Tensor } from '../io/npy.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { conceptTokens, tokensByRule, type SpanRule } from '../tokenize/align-spans.js';
import { attentionShare, type SinkMode } from './attention-share.js';
import { controlSpans, type ControlOptions } from './controls.js';
import { componentAttentionOfRows, componentTokens } from './component-attention.js';
import { attentionEntropy } from './entropy.js';
import { headMean } from './head-mean.js';
import { querySet, type QuerySetKind } from './query-set.js';
import { rolloutConceptMass, rolloutShare } from './rollout.js';

export interface MeasureOptions {
  querySets: readonly QuerySetKind[];
  sinks: readonly SinkMode[];
  controls: ControlOptions;
  /** Weight of the residual identity in rollout (Abnar & Zuidema use 0.5). */
  rolloutResidual: number;
  /** Span rules to measure the concept under: `concept` is by overlap, `concept@majority` by majority of characters. */
  spanRules?: readonly SpanRule[];
}

export const DEFAULT_MEASURE_OPTIONS: MeasureOptions = {
  querySets: ['all'],
  sinks: ['include'],
  controls: { maxControls: 200, seed: 1 },
  rolloutResidual: 0.5,
};

/** What a share is taken on: the concept (the union of its spans) or one labelled component. */
export interface Target {
  name: string;
  tokens: number[];
}

/** The measures of one target under one query set and sink mode; per head arrays are `[layer × heads + head]`. */
export interface TargetMeasures {
  target: string;
  querySet: QuerySetKind;
  sink: SinkMode;
  queries: number;
  share: Float64Array;
  entropy: Float64Array;
  /** Rollout share on the target after each layer, `[layers]`. */
  rollout: Float64Array;
  /** Shares of the control spans, `[controls × layers × heads]`. */
  controlShare: Float64Array;
  controls: number;
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
  /** Control spans per target name (the same for every model: same tokens, same seed). */
  controlSpans: Record<string, number[][]>;
  measures: TargetMeasures[];
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

/** One target under one query set and sink mode, with the queries of the target and of each control. */
export interface QueryPlan {
  target: Target;
  /** Index of the target in `targets`. */
  index: number;
  kind: QuerySetKind;
  sink: SinkMode;
  queries: number[];
  controls: number[][];
  controlQueries: number[][];
}

/** What one head gives under one variant: its share, its entropy, and the share of each control. */
export interface HeadMeasures {
  share: number;
  entropy: number;
  controlShare: (control: number) => number;
}

/**
 * The loop both measuring paths share (from full maps and from in-graph reductions):
 * every target × query set × sink mode, every layer and head, and the rollout share by
 * layer; `head` and `rollout` say how each is read off the path's own data.
 */
export function measureVariants(
  shape: { layers: number; heads: number; tokens: number },
  targets: readonly Target[],
  controls: Record<string, number[][]>,
  options: MeasureOptions,
  head: (variant: QueryPlan, layer: number, head: number) => HeadMeasures,
  rollout: (variant: QueryPlan, layer: number, queries: readonly number[]) => number,
): TargetMeasures[] {
  const { layers, heads, tokens } = shape;
  const measures: TargetMeasures[] = [];
  targets.forEach((target, index) => {
    const spansOfControls = controls[target.name] ?? [];
    for (const kind of options.querySets) {
      const queries = querySet(kind, tokens, target.tokens);
      const controlQueries = spansOfControls.map((span) => querySet(kind, tokens, span));
      for (const sink of options.sinks) {
        const variant: QueryPlan = { target, index, kind, sink, queries, controls: spansOfControls, controlQueries };
        const share = new Float64Array(layers * heads);
        const entropy = new Float64Array(layers * heads);
        const controlShare = new Float64Array(spansOfControls.length * layers * heads);
        for (let l = 0; l < layers; l++) {
          for (let h = 0; h < heads; h++) {
            const k = l * heads + h;
            const measured = head(variant, l, h);
            share[k] = measured.share;
            entropy[k] = measured.entropy;
            for (let c = 0; c < spansOfControls.length; c++) controlShare[c * layers * heads + k] = measured.controlShare(c);
          }
        }
        const rolloutQueries = sink === 'exclude' ? queries.filter((i) => i > 0) : queries;
        const byLayer = Float64Array.from({ length: layers }, (_, l) => rollout(variant, l, rolloutQueries));
        measures.push({ target: target.name, querySet: kind, sink, queries: queries.length, share, entropy, rollout: byLayer, controlShare, controls: spansOfControls.length });
      }
    }
  });
  return measures;
}

/**
 * Reduces one sequence's `[layers, heads, T, T]` attention to every measure compare
 * needs (shares, entropies, rollout, control shares), so the map can be dropped
 * before the next sequence is read.
 */
export function measureSequence(attention: Float32Tensor, spans: readonly TokenSpan[], options: MeasureOptions = DEFAULT_MEASURE_OPTIONS): SequenceMeasures {
  const [layers = 0, heads = 0, tokens = 0] = attention.dims;
  const size = tokens * tokens;
  const headMap = (l: number, h: number): Float32Array => attention.data.subarray((l * heads + h) * size, (l * heads + h + 1) * size);
  const targets = targetsOf(spans, options.spanRules);
  const controls = Object.fromEntries(targets.map((t) => [t.name, controlSpans(tokens, t.tokens, options.controls)]));
  const masses = targets.map((t) => rolloutConceptMass(attention, t.tokens, options.rolloutResidual));
  const measures = measureVariants(
    { layers, heads, tokens },
    targets,
    controls,
    options,
    (v, l, h) => {
      const map = headMap(l, h);
      return {
        share: attentionShare(map, tokens, v.target.tokens, v.queries, v.sink),
        entropy: attentionEntropy(map, tokens, v.queries),
        controlShare: (c) => attentionShare(map, tokens, v.controls[c]!, v.controlQueries[c]!, v.sink),
      };
    },
    (v, l, queries) => rolloutShare(masses[v.index]!, l, queries),
  );
  const result: SequenceMeasures = { layers, heads, tokens, targets, controlSpans: controls, measures };
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
