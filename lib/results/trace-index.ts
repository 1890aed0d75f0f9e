import path from 'node:path';
import { z } from 'zod';
import { writeJson } from '../io/atomic.js';
import { readJsonFile } from '../io/json-file.js';

/** `RESULTS/traces/index.json`: where each model's traces are (relative to the results folder), in lineage order. */
const traceIndexSchema = z.object({ models: z.array(z.object({ name: z.string(), dir: z.string(), contentHash: z.string(), trace: z.string() })) });
export type TraceIndex = z.infer<typeof traceIndexSchema>;

/** One model of a results folder: its name, checkpoint and the absolute folder of its traces. */
export interface IndexedModel {
  name: string;
  dir: string;
  contentHash: string;
  traceFolder: string;
}

export const traceIndexFile = (resultsDir: string): string => path.join(resultsDir, 'traces', 'index.json');

/** The models of a results folder, with their trace folders resolved. */
export async function readTraceIndex(resultsDir: string): Promise<IndexedModel[]> {
  const index = await readJsonFile(traceIndexFile(resultsDir), traceIndexSchema, { missing: 'run legal-attn compare first, or pass the folder it wrote.', again: 'run legal-attn compare again.' });
  return index.models.map((m) => ({ name: m.name, dir: m.dir, contentHash: m.contentHash, traceFolder: path.resolve(resultsDir, m.trace) }));
}

/**
 * Writes the index of a results folder; trace folders are stored relative to it, so a
 * results folder moves whole, and `measure --out` elsewhere points at the traces it read.
 */
export async function writeTraceIndex(resultsDir: string, models: readonly IndexedModel[]): Promise<void> {
  const index: TraceIndex = { models: models.map((m) => ({ name: m.name, dir: m.dir, contentHash: m.contentHash, trace: path.relative(resultsDir, m.traceFolder) })) };
  await writeJson(traceIndexFile(resultsDir), index);
}
