import { access } from 'node:fs/promises';
import { z } from 'zod';
import { readJsonFile } from '../io/json-file.js';
import path from 'node:path';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import { residualStreamOf } from '../runtime/states-session.js';
import { STATE_ROWS_FILE } from './capture.js';
import type { StateRow } from './span-rows.js';
import type { StateSequence } from './representations.js';

/** Each model's residual stream, or the first reason one model's cannot be read (then no model's states are captured). */
export async function residualStreams(checkpoints: ReadonlyArray<{ name: string; checkpoint: Checkpoint }>): Promise<Map<string, ResidualStream> | string> {
  const streams = new Map<string, ResidualStream>();
  for (const { name, checkpoint } of checkpoints) {
    const stream = await residualStreamOf(checkpoint);
    if (typeof stream === 'string') return `${checkpoint.graphFile}: ${stream}`;
    streams.set(name, stream);
  }
  return streams;
}

const stateRowsSchema = z.array(z.object({ kind: z.enum(['concept', 'component', 'control', 'word', 'token']), label: z.string().optional(), tokens: z.array(z.number().int()) }));

/**
 * The states compare wrote beside its traces, as the representation measures read
 * them (each sequence's rows as written, whatever the options now), for compare itself
 * and for a later measure; undefined when some model has none (--no-representations).
 */
export async function storedStateSequences(planned: ReadonlyArray<{ dir: string; concept: string; sequence: string; paraphraseOf?: string }>, folders: ReadonlyArray<{ name: string; folder: string }>): Promise<StateSequence[] | undefined> {
  const sequences: StateSequence[] = [];
  for (const [index, p] of planned.entries()) {
    const dirs = Object.fromEntries(folders.map(({ name, folder }) => [name, path.join(folder, p.dir)]));
    const file = path.join(folders[0]!.folder, p.dir, STATE_ROWS_FILE);
    if (!(await access(file).then(() => true, () => false))) return undefined;
    const rows: StateRow[] = await readJsonFile(file, stateRowsSchema, { missing: 'run compare again.', again: 'run compare again.' });
    sequences.push({ concept: p.concept, sequence: p.sequence, index, ...(p.paraphraseOf ? { paraphraseOf: p.paraphraseOf } : {}), rows, dirs });
  }
  return sequences;
}
