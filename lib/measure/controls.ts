import { randomLcg } from 'd3-random';
import { sample } from 'simple-statistics';

export interface ControlOptions {
  /** Take every control when there are at most this many, else a seeded sample of this size. */
  maxControls: number;
  seed: number;
}

function binomial(n: number, k: number): number {
  let b = 1;
  for (let i = 1; i <= k; i++) b = (b * (n - k + i)) / i;
  return Math.round(b);
}

/** Every k-subset of `items`, in lexicographic order. */
function combinations(items: readonly number[], k: number): number[][] {
  if (k === 0) return [[]];
  return items.flatMap((first, i) => combinations(items.slice(i + 1), k - 1).map((rest) => [first, ...rest]));
}

/**
 * Control spans for a chance baseline: runs of |C| consecutive tokens of the same
 * sequence that share no token with the concept and skip the first token (the sink).
 * Every such run when there are few, else a sample seeded by `seed` (the same seed
 * gives the same controls). Where no run fits (a concept annotated across most of a
 * sentence), sets of |C| non-concept tokens that need not be consecutive. Each control
 * is listed in token order.
 */
export function controlSpans(tokens: number, concept: readonly number[], options: ControlOptions): number[][] {
  const width = concept.length;
  const inConcept = new Set(concept);
  const all: number[][] = [];
  if (width === 0) return all;
  for (let start = 1; start + width <= tokens; start++) {
    const run = Array.from({ length: width }, (_, k) => start + k);
    if (run.every((t) => !inConcept.has(t))) all.push(run);
  }
  if (all.length === 0) return scatteredControls(tokens, inConcept, width, options);
  if (all.length <= options.maxControls) return all;
  const chosen = sample(all, options.maxControls, randomLcg(options.seed));
  return chosen.sort((a, b) => a[0]! - b[0]!);
}

function scatteredControls(tokens: number, inConcept: ReadonlySet<number>, width: number, options: ControlOptions): number[][] {
  const free = Array.from({ length: tokens }, (_, t) => t).filter((t) => t > 0 && !inConcept.has(t));
  if (free.length < width) return [];
  if (binomial(free.length, width) <= options.maxControls) return combinations(free, width);
  const random = randomLcg(options.seed);
  const seen = new Map<string, number[]>();
  for (let tries = 0; seen.size < options.maxControls && tries < options.maxControls * 20; tries++) {
    const set = sample(free, width, random).sort((a, b) => a - b);
    seen.set(set.join(','), set);
  }
  return [...seen.values()].sort((a, b) => a.join(',').localeCompare(b.join(',')));
}
