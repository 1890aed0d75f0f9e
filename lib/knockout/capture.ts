import { access } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { writeJson } from '../io/atomic.js';
import { readJsonFile } from '../io/json-file.js';
import { readNpy, writeNpy } from '../io/npy.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import { openKnockoutSession, spanKnockout } from '../runtime/knockout-session.js';
import type { SessionOptions } from '../runtime/session.js';
import { knockoutBlockRows } from '../runtime/knockout-memory.js';
import { longestSequence, type PlannedSequence } from '../plan/planned-sequence.js';
import { chunks, knockoutRows, type KnockoutRow, type LayerSet } from './rows.js';

export const KNOCKOUT_FILE = 'knockout.npy';
export const KNOCKOUT_ROWS_FILE = 'knockout-rows.json';

/** One sequence's knockout pass as stored: per row and token, log p(next token) and cos of the last state with the baseline's. */
export interface SequenceKnockout {
  rows: KnockoutRow[];
  length: number;
  /** `[rows, T]`; NaN at the last token, which predicts none of the text. */
  logprob: Float32Array;
  /** `[rows, T]`. */
  cosine: Float32Array;
}

export interface KnockoutCaptureOptions extends SessionOptions {
  layerSets: readonly LayerSet[];
  /** Bytes one run may take (--max-memory-gb); rows beyond it run in further runs, each with its own baseline. */
  budget: number;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Runs one checkpoint's knockout passes over the planned sequences of legal wording
 * (a plain-wording control has no reference spans) and writes each sequence's
 * `knockout.npy` `[rows, T, 2]` (log-prob, cosine) and `knockout-rows.json` beside its
 * trace, streamed: nothing of one sequence is kept once written.
 */
export async function captureKnockout(checkpoint: Checkpoint, stream: ResidualStream, planned: readonly PlannedSequence[], folder: string, options: KnockoutCaptureOptions): Promise<void> {
  // blocks of queries where one row's whole layers would not fit the budget (the same for every model of the lineage)
  const session = await openKnockoutSession(checkpoint, stream, { ...options, blockRows: knockoutBlockRows(checkpoint, longestSequence(planned.filter((p) => !p.paraphraseOf)), options.budget) });
  try {
    for (const [k, p] of planned.entries()) {
      if (p.paraphraseOf) continue;
      const ids = p.aligned.ids;
      const T = ids.length;
      const rows = knockoutRows(p.aligned, p.references ?? [], options.layerSets);
      const logprob = new Float32Array(rows.length * T);
      const cosine = new Float32Array(rows.length * T);
      let next = 1;
      for (const run of chunks(rows.slice(1), session.rowBytes(T), options.budget)) {
        const pass = await session.run(ids, run.map((row) => spanKnockout(T, row.tokens, session.layers, row.layer === undefined ? 'all' : [row.layer])));
        // the first run's baseline is the sequence's; each run's own rows follow it
        if (next === 1) {
          logprob.set(pass.logprob.subarray(0, T));
          cosine.set(pass.cosine.subarray(0, T));
        }
        logprob.set(pass.logprob.subarray(T), next * T);
        cosine.set(pass.cosine.subarray(T), next * T);
        next += run.length;
      }
      await writeKnockout(path.join(folder, p.dir), { rows, length: T, logprob, cosine });
      options.onProgress?.(k + 1, planned.length);
    }
  } finally {
    await session.release();
  }
}

/** Writes one sequence's knockout pass and its rows. */
async function writeKnockout(dir: string, pass: SequenceKnockout): Promise<void> {
  const data = new Float32Array(pass.rows.length * pass.length * 2);
  for (let k = 0; k < pass.logprob.length; k++) {
    data[2 * k] = pass.logprob[k]!;
    data[2 * k + 1] = pass.cosine[k]!;
  }
  await writeNpy(path.join(dir, KNOCKOUT_FILE), { data, dims: [pass.rows.length, pass.length, 2] });
  await writeJson(path.join(dir, KNOCKOUT_ROWS_FILE), pass.rows);
}

const rowsSchema = z.array(z.object({ kind: z.enum(['baseline', 'concept', 'control', 'word']), label: z.string().optional(), tokens: z.array(z.number().int()), layer: z.number().int().optional() }));
const ADVICE = { missing: 'run compare --knockout again.', again: 'run compare --knockout again.' };

/** The rows a sequence's knockout pass was run with, or undefined where none was (--knockout not given, or a plain-wording control). */
export async function readKnockoutRows(dir: string): Promise<KnockoutRow[] | undefined> {
  const file = path.join(dir, KNOCKOUT_ROWS_FILE);
  if (!(await access(file).then(() => true, () => false))) return undefined;
  return readJsonFile(file, rowsSchema, ADVICE);
}

/** Reads what `writeKnockout` wrote for one sequence. */
export async function readKnockout(dir: string, rows: readonly KnockoutRow[]): Promise<SequenceKnockout> {
  const file = path.join(dir, KNOCKOUT_FILE);
  const tensor = await readNpy(file);
  if (tensor.dims.length !== 3 || tensor.dims[0] !== rows.length || tensor.dims[2] !== 2) {
    throw badInput(`${file}: holds ${JSON.stringify(tensor.dims)} where [${rows.length}, T, 2] is needed for the rows listed; the knockout was written by another run: run compare --knockout again.`);
  }
  const count = tensor.data.length / 2;
  const logprob = new Float32Array(count);
  const cosine = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    logprob[k] = tensor.data[2 * k]!;
    cosine[k] = tensor.data[2 * k + 1]!;
  }
  return { rows: [...rows], length: tensor.dims[1]!, logprob, cosine };
}
