import { randomLcg } from 'd3-random';
import { sample } from 'simple-statistics';

export interface ControlOptions {
  /** Take every control when there are at most this many, else a seeded sample of this size. */
  maxControls: number;
  seed: number;
}

/**
 * Control spans for a chance baseline: runs of |C| consecutive tokens of the same
 * sequence that share no token with the concept and skip the first token (the sink).
 * Every such run when there are few, else a sample seeded by `seed` (the same seed
 * gives the same controls). Each control is listed in token order.
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
  if (all.length <= options.maxControls) return all;
  const chosen = sample(all, options.maxControls, randomLcg(options.seed));
  return chosen.sort((a, b) => a[0]! - b[0]!);
}
