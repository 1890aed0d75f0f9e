import type { z } from 'zod';
import { fieldName, type KeyPath } from './yaml-file.js';

/** A zod issue as the end of one sentence a user reads: "field runs[0].models is missing". */
export function fieldProblem(issue: z.core.$ZodIssue | undefined, at: KeyPath = issue?.path ?? []): string {
  const field = fieldName(at) || '(top level)';
  if (issue?.code === 'unrecognized_keys') return `field ${field} is not a known field`;
  if (issue?.code === 'invalid_type' && /received undefined$/.test(issue.message)) {
    return issue.expected === 'nonoptional' ? `field ${field} is missing` : `field ${field} is missing (expected ${issue.expected})`;
  }
  return `field ${field} ${issue?.message ?? 'is invalid'}`;
}
