import { defaultPairs, parsePairs, type ModelPair } from './pairs.js';
import type { SinkMode } from '../measure/attention-share.js';
import type { MeasureOptions } from '../measure/measure-sequence.js';
import type { QuerySetKind } from '../measure/query-set.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import type { ReferenceOptions } from '../reference/reference-spans.js';
import { optionValue } from './option-table.js';
import type { SpanRule } from '../tokenize/align-spans.js';

/** Options of the measure stage, shared by `compare` and `measure`. */
export interface AnalysisOptions {
  /** `after:before` pairs as on the command line; default: each model against the previous, and last against first. */
  pairs?: string;
  querySets?: QuerySetKind[];
  /** `exclude` reports shares without the sink beside those with it. */
  sink?: SinkMode;
  /** Span rules the concept is measured under, side by side (default: overlap). */
  spanTokens?: SpanRule[];
  seed?: number;
  controls?: number;
  permutations?: number;
  alpha?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

/** The analysis options resolved: defaults applied, ranges checked. */
export interface ResolvedAnalysis {
  measure: MeasureOptions;
  /** How the reference spans of a run are chosen. */
  references: ReferenceOptions;
  permutations: number;
  alpha: number;
  seed: number;
}

/** The weight of the residual identity in attention rollout (Abnar & Zuidema's 0.5). */
const ROLLOUT_RESIDUAL = 0.5;

/** The analysis options resolved: the option table's defaults applied and every value checked against it. */
export function resolveAnalysis(options: AnalysisOptions = {}): ResolvedAnalysis {
  // The ranges and defaults of the option table, for library callers as for the command line.
  const seed = optionValue('seed', options.seed);
  const controls = optionValue('controls', options.controls);
  const permutations = optionValue('permutations', options.permutations);
  const alpha = optionValue('alpha', options.alpha);
  // a library caller's values are checked as the command line's are: an unknown sink or query set is refused, not read as the default
  const querySets = [...new Set(optionValue<QuerySetKind[]>('querySets', options.querySets?.length === 0 ? undefined : options.querySets))];
  const sinks: SinkMode[] = optionValue<SinkMode>('sink', options.sink) === 'exclude' ? ['include', 'exclude'] : ['include'];
  const spanTokens = [...new Set(optionValue<SpanRule[]>('spanTokens', options.spanTokens))];
  return { measure: { querySets, sinks, spanTokens, rolloutResidual: ROLLOUT_RESIDUAL }, references: { controlsPerWidth: controls, seed }, permutations, alpha, seed };
}

/** The pairs asked for, or each model against the one before and the last against the first. */
export function resolvePairs(text: string | undefined, names: readonly string[]): ModelPair[] {
  return text === undefined ? defaultPairs(names) : parsePairs(text, names);
}

/** How the measured models are compared: the models and pairs, the reference plan, the structure test's relabellings, seed and alpha. */
export const comparisonOptionsOf = (analysis: ResolvedAnalysis, models: readonly string[], pairs: readonly ModelPair[], references: ReferencePlan) => ({
  models,
  pairs,
  references,
  querySet: analysis.measure.querySets[0]!,
  permutations: analysis.permutations,
  seed: analysis.seed,
  alpha: analysis.alpha,
});

/** How changes are judged: against the run's reference plan, with the analysis's seed and alpha. */
export const judgeOptionsOf = (analysis: ResolvedAnalysis, references: ReferencePlan): { references: ReferencePlan; seed: number; alpha: number } => ({ references, seed: analysis.seed, alpha: analysis.alpha });
