/**
 * Position-matched standardisation of changes. Under causal attention a key is seen
 * by the queries after it, so a span's share, and the size of its change between two
 * checkpoints, fall with its position: a concept at the start of its sentence would
 * look special whatever it is. Each span (the concept, and each control) is therefore
 * measured against the width-matched control spans of its own sequence that sit
 * nearest to it and share none of its tokens (as the concept's controls share none of
 * the concept's): z = (Δ − mean Δ of those neighbours) / their sd, per head. Leaving
 * overlapping runs in would make a control's neighbours near copies of it, its z
 * small, and every concept look extreme.
 */

/** One sequence's changes: the target's Δ and each control's Δ per head, with where each sits. */
export interface SequenceChanges {
  /** Δ of the target per head. */
  observed: Float64Array;
  /** Δ of each control per head, `[controls × heads]`. */
  controls: Float64Array;
  /** The target's tokens. */
  target: readonly number[];
  /** Each control's tokens. */
  controlSpans: ReadonlyArray<readonly number[]>;
}

/** The standardised changes of one sequence: the target's and each control's, per head. */
export interface StandardisedChanges {
  observed: Float64Array;
  /** `[controls × heads]`. */
  controls: Float64Array;
  controlCount: number;
}

/** How many nearest controls a span is measured against. */
export const POSITION_NEIGHBOURS = 16;
/** How many controls, the nearest to the target, stand in for it in the chance draws (p can reach 1/41). */
export const CHANCE_POOL = 40;
/** Below this many neighbours a span has no position-matched baseline. */
export const MIN_NEIGHBOURS = 4;

/** Mean token position of a span. */
export const centre = (tokens: readonly number[]): number => tokens.reduce((sum, t) => sum + t, 0) / tokens.length;

/** Indices of the `count` controls nearest to `span` that share none of its tokens (`centres`: each control's, computed once). */
function nearest(controls: ReadonlyArray<readonly number[]>, centres: readonly number[], span: readonly number[], count: number): number[] {
  const own = new Set(span);
  const at = centre(span);
  return controls
    .map((c, k) => ({ k, d: Math.abs(centres[k]! - at), disjoint: c.every((t) => !own.has(t)) }))
    .filter((x) => x.disjoint)
    .sort((a, b) => a.d - b.d || a.k - b.k)
    .slice(0, count)
    .map((x) => x.k);
}

/**
 * Least-squares line through (x, y): its value at 0, its slope, and how much more a
 * new point at 0 strays from it than a point does on average, √(1 + 1/n + x̄²/Sxx),
 * which grows when 0 lies outside the x's (a span with all its neighbours on one side).
 */
function line(x: readonly number[], y: readonly number[]): { at0: number; slope: number; leverage: number } {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (let k = 0; k < n; k++) {
    sxy += (x[k]! - mx) * (y[k]! - my);
    sxx += (x[k]! - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  return { at0: my - slope * mx, slope, leverage: Math.sqrt(1 + 1 / n + (sxx > 0 ? mx ** 2 / sxx : 0)) };
}

/**
 * z of `value` against its neighbours, per head. The neighbours' changes are fitted
 * as lines in log position (their level, then their spread as the mean absolute
 * residual), read at the span's own position: a span at the start of a sentence has
 * all its neighbours on one side, where changes are smaller, and a plain mean and sd
 * of them would make it look extreme.
 */
function standardise(value: Float64Array, controls: Float64Array, neighbours: readonly number[], offsets: readonly number[], heads: number, into: Float64Array, minimumSpread: number): void {
  const y = new Array<number>(neighbours.length);
  for (let h = 0; h < heads; h++) {
    neighbours.forEach((k, i) => (y[i] = controls[k * heads + h]!));
    const level = line(offsets, y);
    const residuals = y.map((v, i) => Math.abs(v - level.at0 - level.slope * offsets[i]!));
    const meanResidual = residuals.reduce((a, b) => a + b, 0) / residuals.length;
    // the spread read off its own line, kept within a factor of four of the neighbours' mean
    const spread = Math.max(minimumSpread, Math.min(4 * meanResidual, Math.max(meanResidual / 4, line(offsets, residuals).at0)) * Math.sqrt(Math.PI / 2));
    const offset = value[h]! - level.at0;
    into[h] = spread > 0 ? offset / spread / level.leverage : offset === 0 ? 0 : Math.sign(offset) * Number.POSITIVE_INFINITY;
  }
}

/**
 * The controls that were measured: a control whose query set is empty (one that ends
 * its sequence, under `after` or `outside`) has a NaN change and is no control.
 */
function measuredControls(changes: SequenceChanges, heads: number): { spans: Array<readonly number[]>; values: Float64Array } {
  const kept = changes.controlSpans.flatMap((_, c) => (changes.controls.subarray(c * heads, (c + 1) * heads).some(Number.isNaN) ? [] : [c]));
  const values = new Float64Array(kept.length * heads);
  kept.forEach((c, row) => values.set(changes.controls.subarray(c * heads, (c + 1) * heads), row * heads));
  return { spans: kept.map((c) => changes.controlSpans[c]!), values };
}

/**
 * Standardises a sequence's target and controls against their nearest controls, or
 * returns undefined when the sequence has too few controls for a baseline.
 * `minimumSpread`: the smallest spread a baseline is given, the precision of the
 * measure (0: none; a spread of 0 then makes any other change ±∞).
 */
export function standardiseByPosition(changes: SequenceChanges, heads: number, minimumSpread = 0): StandardisedChanges | undefined {
  const measured = measuredControls(changes, heads);
  const spans = measured.spans;
  const centres = spans.map(centre);
  const ofTarget = nearest(spans, centres, changes.target, POSITION_NEIGHBOURS);
  if (ofTarget.length < MIN_NEIGHBOURS) return undefined;
  // The chance draws are the controls nearest the target, each measured the way the target is;
  // a control with too few disjoint neighbours of its own cannot be, and is passed over.
  const pool: Array<{ c: number; neighbours: number[] }> = [];
  for (const c of nearest(spans, centres, changes.target, spans.length)) {
    if (pool.length === CHANCE_POOL) break;
    const neighbours = nearest(spans, centres, spans[c]!, POSITION_NEIGHBOURS);
    if (neighbours.length >= MIN_NEIGHBOURS) pool.push({ c, neighbours });
  }
  if (pool.length < MIN_NEIGHBOURS) return undefined;
  // positions counted from 1, so that a span at token 0 has a logarithm too
  const offsets = (from: readonly number[], to: readonly number[]): number[] => to.map((k) => Math.log((1 + centres[k]!) / (1 + centre(from))));
  const observed = new Float64Array(heads);
  standardise(changes.observed, measured.values, ofTarget, offsets(changes.target, ofTarget), heads, observed, minimumSpread);
  if (observed.some(Number.isNaN)) return undefined;
  const controls = new Float64Array(pool.length * heads);
  pool.forEach(({ c, neighbours }, row) => {
    const own = measured.values.subarray(c * heads, (c + 1) * heads);
    standardise(own, measured.values, neighbours, offsets(spans[c]!, neighbours), heads, controls.subarray(row * heads, (row + 1) * heads), minimumSpread);
  });
  return { observed, controls, controlCount: pool.length };
}
