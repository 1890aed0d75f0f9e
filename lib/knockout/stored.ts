import path from 'node:path';
import { readKnockoutRows } from './capture.js';
import type { KnockoutRow } from './rows.js';

/** One sequence of legal wording as the knockout measures see it. */
export interface KnockoutSequence {
  concept: string;
  sequence: string;
  /** Its index in the run's reference plan. */
  index: number;
  rows: KnockoutRow[];
  /** Per model, the folder its knockout pass was written to. */
  dirs: Record<string, string>;
}

/**
 * The knockout passes compare wrote beside its traces (each sequence's rows as written,
 * whatever the options now), for compare itself and for a later measure; undefined when
 * none were run (no --knockout). Plain-wording controls have none.
 */
export async function storedKnockoutSequences(planned: ReadonlyArray<{ dir: string; concept: string; sequence: string; paraphraseOf?: string }>, folders: ReadonlyArray<{ name: string; folder: string }>): Promise<KnockoutSequence[] | undefined> {
  const sequences: KnockoutSequence[] = [];
  for (const [index, p] of planned.entries()) {
    if (p.paraphraseOf) continue;
    const rows = await readKnockoutRows(path.join(folders[0]!.folder, p.dir));
    if (!rows) return undefined;
    sequences.push({ concept: p.concept, sequence: p.sequence, index, rows, dirs: Object.fromEntries(folders.map(({ name, folder }) => [name, path.join(folder, p.dir)])) });
  }
  return sequences.length > 0 ? sequences : undefined;
}
