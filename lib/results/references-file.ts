import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { writeJson } from '../io/atomic.js';
import { readJsonFile } from '../io/json-file.js';
import type { ReferencePlan } from '../reference/reference-plan.js';

/** The run's reference plan, beside summary.json: what `measure` judges by again. */
export const REFERENCES_FILE = 'references.json';

const classesSchema = z.object({
  logFrequency: z.array(z.number()),
  embeddingNorm: z.array(z.number()).optional(),
  word: z.array(z.number().int()),
  words: z.array(z.object({ type: z.string(), tokens: z.array(z.number().int()) })),
});

const planSchema = z.object({
  features: z.array(z.string()),
  embeddingUnread: z.string().optional(),
  controlsPerWidth: z.number().int().positive(),
  seed: z.number().int(),
  sequences: z.array(
    z.object({
      dir: z.string(),
      classes: classesSchema,
      spans: z.array(z.object({ kind: z.enum(['control', 'word']), tokens: z.array(z.number().int()), word: z.string().optional() })),
    }),
  ),
});

/** Writes the plan with each sequence's folder, so that it is read back against the same sequences. */
export async function writeReferences(out: string, plan: ReferencePlan, dirs: readonly string[]): Promise<void> {
  await writeJson(path.join(out, REFERENCES_FILE), { ...plan, sequences: plan.sequences.map((s, k) => ({ dir: dirs[k]!, ...s })) });
}

/** Reads a run's reference plan, checked against the sequences it must describe. */
export async function readReferences(resultsDir: string, dirs: readonly string[]): Promise<ReferencePlan> {
  const file = path.join(resultsDir, REFERENCES_FILE);
  const plan = await readJsonFile(file, planSchema, { missing: 'it is written by compare from this version on: run compare again (passes in the trace cache are reused).', again: 'run compare again.' });
  const listed = plan.sequences.map((s) => s.dir);
  if (listed.length !== dirs.length || listed.some((d, k) => d !== dirs[k])) throw badInput(`${file}: lists other sequences than the traces; run compare again.`);
  return { ...plan, sequences: plan.sequences.map(({ classes, spans }) => ({ classes, spans })) };
}
