import path from 'node:path';
import { badInput } from '../errors.js';
import { writeJson } from '../io/atomic.js';
import { readNpy, writeNpy, type Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import type { SessionOptions } from '../runtime/session.js';
import { openStatesSession } from '../runtime/states-session.js';
import { poolMatrix, stateRows, type StateRow } from './span-rows.js';
import { type PlannedSequence } from '../plan/planned-sequence.js';

export const STATES_FILE = 'states.npy';
export const STATE_ROWS_FILE = 'state-rows.json';

/** One sequence's pooled states, `[states, rows, hidden]`, with what each row pools. */
export interface SequenceStates {
  data: Float32Array;
  states: number;
  hidden: number;
  rows: StateRow[];
}

/** The row-th vector of state layer l. */
export const rowOffset = (s: SequenceStates, l: number, row: number): number => (l * s.rows.length + row) * s.hidden;

/**
 * Runs one checkpoint over the planned sequences, one pass each, and writes each
 * sequence's pooled residual states beside its attention trace (`states.npy`
 * `[states, rows, hidden]`, `state-rows.json`), streamed: nothing of one sequence is
 * kept once written. For `--maps full`, whose passes
 * return full maps; measuring in the graph pools the states in the same pass.
 */
export async function captureStates(
  checkpoint: Checkpoint,
  stream: ResidualStream,
  planned: readonly PlannedSequence[],
  folder: string,
  options: SessionOptions & { onProgress?: (done: number, total: number) => void },
): Promise<void> {
  const session = await openStatesSession(checkpoint, stream, options);
  try {
    for (const [k, p] of planned.entries()) {
      const rows = stateRows(p.aligned, p.references ?? []);
      const [data] = await session.run([p.aligned.ids], [poolMatrix(rows, p.aligned.ids.length)]);
      await writeStates(path.join(folder, p.dir), { data: data!, dims: [session.states, rows.length, data!.length / session.states / rows.length] }, rows);
      options.onProgress?.(k + 1, planned.length);
    }
  } finally {
    await session.release();
  }
}

/** Writes one sequence's pooled states `[states, rows, hidden]` and what each row pools, beside its tokens.json. */
export async function writeStates(dir: string, states: Float32Tensor, rows: readonly StateRow[]): Promise<void> {
  await writeNpy(path.join(dir, STATES_FILE), states);
  await writeJson(path.join(dir, STATE_ROWS_FILE), rows);
}

/** Reads what `writeStates` wrote for one sequence. */
export async function readStates(dir: string, rows: readonly StateRow[]): Promise<SequenceStates> {
  const file = path.join(dir, STATES_FILE);
  const tensor = await readNpy(file);
  if (tensor.dims.length !== 3 || tensor.dims[1] !== rows.length) {
    throw badInput(`${file}: holds ${JSON.stringify(tensor.dims)} states where ${rows.length} rows are listed; the states were written by another run: run compare again.`);
  }
  return { data: tensor.data, states: tensor.dims[0]!, hidden: tensor.dims[2]!, rows: [...rows] };
}
