import { badInput } from '../errors.js';

/** A model pair: Δ = s_after − s_before, named `after:before` as on the command line. */
export interface ModelPair {
  after: string;
  before: string;
}

export const pairName = (pair: ModelPair): string => `${pair.after}:${pair.before}`;

/**
 * The pairs compared by default: each model against the one before it, and the last
 * against the first (for base, cpt, ift: cpt:base, ift:cpt, ift:base).
 */
export function defaultPairs(models: readonly string[]): ModelPair[] {
  const pairs: ModelPair[] = [];
  for (let k = 1; k < models.length; k++) pairs.push({ after: models[k]!, before: models[k - 1]! });
  if (models.length > 2) pairs.push({ after: models.at(-1)!, before: models[0]! });
  return pairs;
}

/** Parses `--pairs cpt:base,ift:cpt` against the named models. */
export function parsePairs(text: string, models: readonly string[]): ModelPair[] {
  const pairs = text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item): ModelPair => {
      const [after, before, ...rest] = item.split(':');
      if (!after || !before || rest.length > 0) throw badInput(`--pairs: "${item}" is not a pair; write AFTER:BEFORE, for example cpt:base.`);
      for (const name of [after, before]) {
        if (!models.includes(name)) throw badInput(`--pairs: "${item}" names ${name}, which is not one of the models (${models.join(', ')}).`);
      }
      if (after === before) throw badInput(`--pairs: "${item}" compares a model with itself.`);
      return { after, before };
    });
  if (pairs.length === 0) throw badInput('--pairs is empty; write AFTER:BEFORE pairs separated by commas, for example cpt:base,ift:cpt.');
  return pairs;
}
