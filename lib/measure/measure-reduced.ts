import { runtimeFailure } from '../errors.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { shareOfRows, type RowMasses } from './attention-share.js';
import { componentTokens } from './component-attention.js';
import type { ReferenceSpan } from '../reference/reference-spans.js';
import { componentMeasures, measureReferences, measureVariants, targetsOf, type MeasureOptions, type QueryPlan, type ReferenceShares, type SequenceMeasures, type Target, type TargetMeasures } from './measure-sequence.js';
import type { Float32Tensor } from '../io/npy.js';
import { type ReducedAttention, type ReductionInputs } from '../rewrite/reduction-plan.js';

/** Key-set columns every sequence has before its targets: every key, then the sink. */
const ALL = 0;
const SINK = 1;
const FIRST_TARGET = 2;

/**
 * What the in-graph reductions of one sequence are taken on, and where each target's
 * column is: the concept and its components, and, only for the `outside` query set
 * (whose reference shares column sums cannot give), every reference span as a column too.
 */
export interface ReductionLayout {
  tokens: number;
  targets: Target[];
  references: ReferenceSpan[];
  /** Column of the first reference span in the key sets, when reference spans are columns. */
  referenceColumn?: number;
  /** Labelled components, in the order of the component matrices. */
  components: Array<{ label: string; tokens: number[] }>;
  keySetCount: number;
  rolloutCount: number;
  inputs: ReductionInputs;
}

export function reductionLayout(tokens: number, spans: readonly TokenSpan[], options: MeasureOptions, references: readonly ReferenceSpan[] = []): ReductionLayout {
  const targets = targetsOf(spans, options.spanTokens);
  const columns: Array<readonly number[]> = [Array.from({ length: tokens }, (_, j) => j), [0], ...targets.map((t) => t.tokens)];
  const referenceColumn = options.querySets.includes('outside') && references.length > 0 ? columns.length : undefined;
  if (referenceColumn !== undefined) columns.push(...references.map((r) => r.tokens));
  const K = columns.length;
  const keySets = new Float32Array(tokens * K);
  columns.forEach((set, k) => set.forEach((j) => (keySets[j * K + k] = 1)));
  const R = targets.length;
  const rollout = new Float32Array(tokens * R);
  targets.forEach((t, r) => t.tokens.forEach((j) => (rollout[j * R + r] = 1)));
  return { tokens, targets, references: [...references], ...(referenceColumn !== undefined ? { referenceColumn } : {}), components: componentTokens(spans), keySetCount: K, rolloutCount: R, inputs: { keySets, rollout } };
}

/** The same inputs with zero columns added, so that sequences of one batch have one width. */
export function widenInputs(layout: ReductionLayout, keySetCount: number, rolloutCount: number): ReductionInputs {
  const widen = (columns: Float32Array, from: number, to: number): Float32Array => {
    if (from === to) return columns;
    const wide = new Float32Array(layout.tokens * to);
    for (let j = 0; j < layout.tokens; j++) wide.set(columns.subarray(j * from, (j + 1) * from), j * to);
    return wide;
  };
  return { keySets: widen(layout.inputs.keySets, layout.keySetCount, keySetCount), rollout: widen(layout.inputs.rollout!, layout.rolloutCount, rolloutCount) };
}

/**
 * Every measure of `measureSequence` from the in-graph reductions instead of the full
 * maps: shares and control shares (`lensOf`); entropy and rollout as the graph
 * returned them; component matrices from head-averaged masses. Where the graph weighed
 * by values, the same shares again under the lens `value`, from the value-weighted
 * masses, and column sums times each key's value norm.
 */
export function measureReduced(reduced: ReducedAttention, layout: ReductionLayout, options: MeasureOptions): SequenceMeasures {
  const [layers = 0, heads = 0, tokens = 0, K = 0] = reduced.mass.dims;
  const R = reduced.rollout?.dims[2] ?? 0;
  const attention = lensOf(reduced.mass, layout, options, (l, h, row) => columnSumRow(reduced, l, h, row), {
    entropy: (l, h, queries) => {
      const rowEntropy = reduced.entropy!.data.subarray((l * heads + h) * tokens, (l * heads + h + 1) * tokens);
      return queries.length === 0 ? Number.NaN : queries.reduce((acc, i) => acc + rowEntropy[i]!, 0) / queries.length;
    },
    rollout: (v, l, queries) => (queries.length === 0 ? Number.NaN : queries.reduce((acc, i) => acc + reduced.rollout!.data[(l * tokens + i) * R + v.index]!, 0) / queries.length),
  });
  const measures = attention.measures;
  const referenceShares = attention.referenceShares;
  if (reduced.valueMass && reduced.valueNorms) {
    // The value lens: the same shares on the value-weighted masses; a key's column sum weighs by its value norm.
    const norms = reduced.valueNorms.data;
    const value = lensOf(reduced.valueMass, layout, options, (l, h, row) => {
      const rows = reduced.columnSums?.dims[2] ?? 0;
      const sums = columnSumRow(reduced, l, h, row === 0 ? 0 : rows - 1);
      const n = norms.subarray((l * heads + h) * tokens, (l * heads + h + 1) * tokens);
      return sums.map((s, j) => s * n[j]!);
    });
    measures.push(...value.measures.map((m) => ({ ...m, lens: 'value' as const })));
    referenceShares.push(...value.referenceShares.map((r) => ({ ...r, lens: 'value' as const })));
  }
  const result: SequenceMeasures = { layers, heads, tokens, targets: layout.targets, measures, references: layout.references, referenceShares };
  // What a query puts on a component, head-averaged: the masses on the component's key set.
  const column = layout.components.map((p) => FIRST_TARGET + layout.targets.findIndex((t) => t.name === `component:${p.label}`));
  const components = componentMeasures(layers, layout.components, (l, i, b) => {
    let mass = 0;
    for (let h = 0; h < heads; h++) mass += reduced.mass.data[((l * heads + h) * tokens + i) * K + column[b]!]!;
    return mass / heads;
  });
  if (components) result.components = components;
  return result;
}

/** Column sums of one head, `[T]`: row 0 plain, row 1 sink-renormalised, row 2 value sink-renormalised (before the value norms). */
function columnSumRow(reduced: ReducedAttention, l: number, h: number, row: number): Float32Array {
  const [, heads = 0, rows = 0, tokens = 0] = reduced.columnSums?.dims ?? [];
  if (row >= rows) throw runtimeFailure('the in-graph column sums were taken without the sink-renormalised row, which --sink exclude needs.');
  const base = ((l * heads + h) * rows + row) * tokens;
  return reduced.columnSums!.data.subarray(base, base + tokens);
}

/** How a lens reads its entropy and rollout; absent: NaN (the value lens defines neither). */
interface LensExtras {
  entropy: (layer: number, head: number, queries: readonly number[]) => number;
  rollout: (variant: QueryPlan, layer: number, queries: readonly number[]) => number;
}

/**
 * The shares of one lens from its masses on the key sets `[layers, heads, T, K]` and its
 * column sums (plain row 0, sink-free row 1): targets from the per-query masses, controls
 * under `all` and `after` from the column sums (a key j only receives attention from
 * queries i ≥ j, so Σ_{i∈Q} A[i][j] is the whole column for every j of a span whose
 * queries start at its first token), under `outside` from their own key-set columns.
 */
function lensOf(mass: Float32Tensor, layout: ReductionLayout, options: MeasureOptions, columnSums: (l: number, h: number, row: 0 | 1) => Float32Array, extras?: LensExtras): { measures: TargetMeasures[]; referenceShares: ReferenceShares[] } {
  const [layers = 0, heads = 0, tokens = 0, K = 0] = mass.dims;
  const massRows = (l: number, h: number, column: number): RowMasses => {
    const base = (l * heads + h) * tokens * K;
    return {
      onSet: (i) => mass.data[base + i * K + column]!,
      total: (i) => mass.data[base + i * K + ALL]!,
      sink: (i) => mass.data[base + i * K + SINK]!,
    };
  };
  const shape = { layers, heads, tokens };
  const measures = measureVariants(
    shape,
    layout.targets,
    options,
    (v, l, h) => ({ share: shareOfRows(massRows(l, h, FIRST_TARGET + v.index), v.queries, v.target.tokens.includes(0), v.sink), entropy: extras ? extras.entropy(l, h, v.queries) : Number.NaN }),
    (v, l, queries) => (extras ? extras.rollout(v, l, queries) : Number.NaN),
  );
  // Per head, the suffix sums of the rows that count from query i on: the total of the queries of `all` and `after`.
  const suffixes = new Map<string, Float64Array>();
  const suffixOf = (l: number, h: number, sink: 'include' | 'exclude'): Float64Array => {
    const key = `${l}:${h}:${sink}`;
    let suffix = suffixes.get(key);
    if (!suffix) {
      suffix = new Float64Array(tokens + 1);
      const rows = massRows(l, h, ALL);
      for (let i = tokens - 1; i >= 0; i--) suffix[i] = suffix[i + 1]! + (sink === 'include' ? rows.total(i) : i > 0 && rows.total(i) - rows.sink(i) > 0 ? 1 : 0);
      suffixes.set(key, suffix);
    }
    return suffix;
  };
  const referenceShares = measureReferences(shape, layout.references, options, (r, l, h) => {
    if (r.kind === 'outside') return shareOfRows(massRows(l, h, layout.referenceColumn! + r.index), r.queries, r.tokens.includes(0), r.sink);
    // The queries of `all` and `after` run from a first token to the end: their total is a suffix sum.
    const total = suffixOf(l, h, r.sink)[r.kind === 'all' ? 0 : Math.min(...r.tokens)]!;
    if (!(total > 0)) return Number.NaN;
    const sums = columnSums(l, h, r.sink === 'include' ? 0 : 1);
    return r.tokens.reduce((acc, j) => acc + (r.sink === 'exclude' && j === 0 ? 0 : sums[j]!), 0) / total;
  });
  return { measures, referenceShares };
}
