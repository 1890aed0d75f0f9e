/**
 * Which query tokens (rows of A) a share is taken over:
 * - `all`: every token (the study's "proportion of total attention");
 * - `after`: tokens from the first concept token on, the only ones that can see it;
 * - `outside`: tokens after the first concept token that are not concept tokens.
 */
export type QuerySetKind = 'all' | 'after' | 'outside';
export const QUERY_SETS: readonly QuerySetKind[] = ['all', 'after', 'outside'];

/** The query token indices Q of a sequence of `tokens` for the concept tokens C (sorted). */
export function querySet(kind: QuerySetKind, tokens: number, concept: readonly number[]): number[] {
  const first = concept.length > 0 ? Math.min(...concept) : tokens;
  const inConcept = new Set(concept);
  const queries: number[] = [];
  for (let i = 0; i < tokens; i++) {
    if (kind === 'all' || (kind === 'after' && i >= first) || (kind === 'outside' && i > first && !inConcept.has(i))) queries.push(i);
  }
  return queries;
}
