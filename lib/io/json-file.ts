import { readFile } from 'node:fs/promises';
import type { z } from 'zod';
import { badInput } from '../errors.js';
import { fieldProblem } from './field-problem.js';

/** What a reader says when a file is missing, and what to do when it is broken. */
export interface JsonAdvice {
  /** After "FILE: not found; ". */
  missing: string;
  /** After "FILE: not JSON; " or "FILE: field … ; ". */
  again: string;
}

/**
 * Reads a JSON file legal-attn wrote, checked against the form its readers rely on:
 * a file that is missing, not JSON or not of that form is named in one sentence that
 * says what to do. What the schema does not name is kept as it was written.
 */
export async function readJsonFile<S extends z.ZodType>(file: string, schema: S, advice: JsonAdvice): Promise<z.infer<S>> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw badInput(`${file}: not found; ${advice.missing}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw badInput(`${file}: not JSON; ${advice.again}`, error);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw badInput(`${file}: ${fieldProblem(parsed.error.issues[0])}; ${advice.again}`);
  return parsed.data;
}
