import type { Float32Tensor } from '../io/npy.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { conceptTokens } from '../tokenize/align-spans.js';
import { attentionShare, type SinkMode } from './attention-share.js';
import { controlSpans, type ControlOptions } from './controls.js';
import { componentAttention, componentTokens } from './component-attention.js';
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

/** The concept (union of spans) and, where spans carry labels, each labelled component. */
export function targetsOf(spans: readonly TokenSpan[]): Target[] {
  const targets: Target[] = [{ name: 'concept', tokens: conceptTokens(spans) }];
  const labels = [...new Set(spans.flatMap((s) => (s.label ? [s.label] : [])))].sort();
  for (const label of labels) targets.push({ name: `component:${label}`, tokens: conceptTokens(spans.filter((s) => s.label === label)) });
  return targets;
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
  const targets = targetsOf(spans);
  const controls: Record<string, number[][]> = {};
  const measures: TargetMeasures[] = [];

  for (const target of targets) {
    const spansOfControls = controlSpans(tokens, target.tokens, options.controls);
    controls[target.name] = spansOfControls;
    const mass = rolloutConceptMass(attention, target.tokens, options.rolloutResidual);
    for (const kind of options.querySets) {
      const queries = querySet(kind, tokens, target.tokens);
      const controlQueries = spansOfControls.map((span) => querySet(kind, tokens, span));
      for (const sink of options.sinks) {
        const share = new Float64Array(layers * heads);
        const entropy = new Float64Array(layers * heads);
        const controlShare = new Float64Array(spansOfControls.length * layers * heads);
        for (let l = 0; l < layers; l++) {
          for (let h = 0; h < heads; h++) {
            const map = headMap(l, h);
            const k = l * heads + h;
            share[k] = attentionShare(map, tokens, target.tokens, queries, sink);
            entropy[k] = attentionEntropy(map, tokens, queries);
            spansOfControls.forEach((span, c) => {
              controlShare[c * layers * heads + k] = attentionShare(map, tokens, span, controlQueries[c]!, sink);
            });
          }
        }
        const rollout = Float64Array.from({ length: layers }, (_, l) => rolloutShare(mass, l, sink === 'exclude' ? queries.filter((i) => i > 0) : queries));
        measures.push({ target: target.name, querySet: kind, sink, queries: queries.length, share, entropy, rollout, controlShare, controls: spansOfControls.length });
      }
    }
  }
  const result: SequenceMeasures = { layers, heads, tokens, targets, controlSpans: controls, measures };
  const parts = componentTokens(spans);
  if (parts.length >= 2) {
    const mean = headMean(attention);
    const n = parts.length;
    const perLayer = new Float64Array(layers * n * n);
    for (let l = 0; l < layers; l++) perLayer.set(componentAttention(mean.data.subarray(l * size, (l + 1) * size), tokens, parts), l * n * n);
    result.components = { labels: parts.map((p) => p.label), perLayer };
  }
  return result;
}
