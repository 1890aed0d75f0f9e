import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { badInput } from '../errors.js';
import { writeJson } from '../io/atomic.js';

/** `RESULTS/traces/index.json`: where each model's traces are, in lineage order. */
export interface TraceIndex {
  models: Array<{ name: string; dir: string; contentHash: string; /** Relative to the results folder. */ trace: string }>;
}

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
  const file = traceIndexFile(resultsDir);
  const text = await readFile(file, 'utf8').catch(() => {
    throw badInput(`${file}: not found; run legal-attn compare first, or pass the folder it wrote.`);
  });
  let index: TraceIndex;
  try {
    index = JSON.parse(text) as TraceIndex;
  } catch (error) {
    throw badInput(`${file}: not JSON; run legal-attn compare again.`, error);
  }
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
