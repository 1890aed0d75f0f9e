import type { z } from 'zod';

/** Where a field sits in a document: its keys and indices from the top. */
export type KeyPath = ReadonlyArray<PropertyKey>;

/** A key path as a user reads it: `runs[0].models`. */
export const fieldName = (keys: KeyPath): string =>
  keys.reduce<string>((name, key) => (typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key)), '');

/** A zod issue as the end of one sentence a user reads: "field runs[0].models is missing". */
export function fieldProblem(issue: z.core.$ZodIssue | undefined, at: KeyPath = issue?.path ?? []): string {
  const field = fieldName(at) || '(top level)';
  if (issue?.code === 'unrecognized_keys') return `field ${field} is not a known field`;
  if (issue?.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return issue.expected === 'nonoptional' ? `field ${field} is missing` : `field ${field} is missing (expected ${issue.expected})`;
  }
  return `field ${field} ${issue?.message ?? 'is invalid'}`;
}
