import { createHash } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { badInput } from '../errors.js';
import { writeJson } from '../io/atomic.js';
import { readJsonFile } from '../io/json-file.js';
import { readNpy, writeNpy, type Float32Tensor } from '../io/npy.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import type { ResidualStream } from '../checkpoint/residual-stream.js';
import { KNOCKOUT_GRAPH, openKnockoutSession, spanKnockout, type KnockoutSession } from '../runtime/knockout-session.js';
import { passesThroughCache, type CacheOptions } from '../runtime/passes.js';
import type { SessionOptions } from '../runtime/session.js';
import { knockoutBlockRows } from '../runtime/knockout-memory.js';
import { longestSequence, type PlannedSequence } from '../plan/planned-sequence.js';
import { chunks, knockedOutSpans, knockoutRows, type KnockoutRow, type LayerSet } from './rows.js';

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

export interface KnockoutCaptureOptions extends SessionOptions, CacheOptions {
  layerSets: readonly LayerSet[];
  /** Control runs of each width knocked out per sequence at most (`--knockout-controls`); absent: all of the plan's. */
  controlsPerWidth?: number;
  /** Seeds the sample of control runs knocked out (the run's `--seed`). */
  seed: number;
  /** Bytes one run may take (--max-memory-gb); rows beyond it run in further runs, each with its own baseline. */
  budget: number;
  onProgress?: (done: number, total: number) => void;
}

/** What `captureKnockout` did: sequences run through the model (the others came from the trace cache). */
export interface KnockoutCapture {
  computed: number;
}

/**
 * Runs one checkpoint's knockout passes over the planned sequences of legal wording
 * (a plain-wording control has no reference spans) and writes each sequence's
 * `knockout.npy` `[rows, T, 2]` (log-prob, cosine) and `knockout-rows.json` beside its
 * trace, streamed: nothing of one sequence is kept once written. Each pass goes through
 * the trace cache, keyed by its rows and the knockout graph, so an interrupted run
 * resumes and a second run of the same model and texts loads no model at all.
 */
export async function captureKnockout(checkpoint: Checkpoint, stream: ResidualStream, planned: readonly PlannedSequence[], folder: string, options: KnockoutCaptureOptions): Promise<KnockoutCapture> {
  const legal = planned.flatMap((p, index) => {
    if (p.paraphraseOf) return [];
    const references = p.references ?? [];
    return [{ p, rows: knockoutRows(p.aligned, references, options.layerSets, knockedOutSpans(references, options.controlsPerWidth, options.seed, index)) }];
  });
  // blocks of queries where one row's whole layers would not fit the budget (the same for every model of the lineage)
  const blockRows = knockoutBlockRows(checkpoint, longestSequence(legal.map(({ p }) => p)), options.budget);
  let session: KnockoutSession | undefined;
  let computed = 0;
  try {
    const passes = passesThroughCache(
      checkpoint,
      legal.map(({ p }) => p.aligned.ids),
      { ...options, batchSize: 1, variant: (k) => knockoutVariant(legal[k]!.rows) },
      async ([k]) => {
        const { p, rows } = legal[k!]!;
        session ??= await openKnockoutSession(checkpoint, stream, { ...options, blockRows });
        computed++;
        return [{ [KNOCKOUT_PART]: await knockoutPass(session, p.aligned.ids, rows, options.budget) }];
      },
    );
    for await (const { index, parts } of passes) {
      const { p, rows } = legal[index]!;
      await writeKnockout(path.join(folder, p.dir), rows, parts[KNOCKOUT_PART]!);
    }
  } finally {
    await session?.release();
  }
  return { computed };
}

const KNOCKOUT_PART = 'knockout';

/** What a cached knockout pass is keyed by besides the model and ids: the rows run and the graph that ran them. */
const knockoutVariant = (rows: readonly KnockoutRow[]): string => `knockout-${createHash('sha256').update(JSON.stringify({ graph: KNOCKOUT_GRAPH, rows })).digest('hex').slice(0, 32)}`;

/** One sequence's knockout pass, `[rows, T, 2]` (log-prob, cosine), its rows cut into runs that fit the budget. */
async function knockoutPass(session: KnockoutSession, ids: BigInt64Array, rows: readonly KnockoutRow[], budget: number): Promise<Float32Tensor> {
  const T = ids.length;
  const logprob = new Float32Array(rows.length * T);
  const cosine = new Float32Array(rows.length * T);
  let next = 1;
  for (const run of chunks(rows.slice(1), session.rowBytes(T), budget)) {
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
  const data = new Float32Array(rows.length * T * 2);
  for (let k = 0; k < logprob.length; k++) {
    data[2 * k] = logprob[k]!;
    data[2 * k + 1] = cosine[k]!;
  }
  return { data, dims: [rows.length, T, 2] };
}

/** Writes one sequence's knockout pass and its rows. */
async function writeKnockout(dir: string, rows: readonly KnockoutRow[], pass: Float32Tensor): Promise<void> {
  await writeNpy(path.join(dir, KNOCKOUT_FILE), pass);
  await writeJson(path.join(dir, KNOCKOUT_ROWS_FILE), rows);
}

const rowsSchema = z.array(z.object({ kind: z.enum(['baseline', 'concept', 'control', 'word']), label: z.string().optional(), tokens: z.array(z.number().int()), span: z.number().int().min(0).optional(), layer: z.number().int().optional() }));
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
