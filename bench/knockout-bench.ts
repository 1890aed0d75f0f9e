// The bench's knockout section: compare --knockout's passes (lib/knockout/capture.ts) against a
// plain forward pass of the same graph on the same sequences, rows cut into runs as compare cuts them.
import ort from 'onnxruntime-node';
import type { Checkpoint } from '../lib/checkpoint/checkpoint.js';
import { chunks, knockoutRows, layerSetsOf } from '../lib/knockout/rows.js';
import { optionValue } from '../lib/options/option-table.js';
import { knockoutBlockRows } from '../lib/runtime/knockout-memory.js';
import { openKnockoutSession, spanKnockout } from '../lib/runtime/knockout-session.js';
import { residualStreamOf } from '../lib/runtime/states-session.js';
import { fastest, peakMb, plainRun, rssMb, type Input, type Measurement } from './inputs.js';

export interface KnockoutMeasurement extends Measurement {
  /** The plain passes of the same sequences, ms (the fastest of a few each). */
  plainMs: number;
  sequences: number;
  /** Rows run, each sequence's baseline included (its runs' repeated baselines not). */
  rows: number;
  /** Rows compare runs for these sequences by default (all layers, the default --controls). */
  defaultRows: number;
  /** Session runs: compare cuts a sequence's rows into runs that fit --max-memory-gb, each with its own baseline. */
  runs: number;
}

/**
 * Each legal sequence's knockout rows (or its first `limit`), timed once (a run of hundreds
 * of rows is seconds to minutes), each just after a plain pass of the same sequence: on a
 * shared machine the ratio then compares passes under the same load. Both sessions are
 * loaded before "load" is read; the knockout's rows peak far above a plain pass.
 */
export async function knockoutPasses(checkpoint: Checkpoint, inputs: readonly Input[], plainRepeats: number, limit?: number): Promise<KnockoutMeasurement> {
  const stream = await residualStreamOf(checkpoint);
  if (typeof stream === 'string') throw new Error(`${checkpoint.graphFile}: ${stream}`);
  const budget = optionValue<number>('maxMemoryGb', undefined) * 1024 ** 3;
  // blocks of queries where compare would use them: the longest text's whole layers past the budget
  const blockRows = knockoutBlockRows(checkpoint, Math.max(...inputs.filter((i) => i.legal).map((i) => i.ids.length)), budget);
  const session = await openKnockoutSession(checkpoint, stream, { blockRows });
  const plain = await ort.InferenceSession.create(checkpoint.graphFile, { graphOptimizationLevel: 'all' });
  const loadMb = rssMb();
  const legal = inputs.filter((i) => i.legal);
  const totals = { ms: 0, plainMs: 0, rows: 0, defaultRows: 0, runs: 0 };
  for (const input of legal) {
    const all = knockoutRows(input, input.references, layerSetsOf());
    const kept = limit === undefined ? all : all.slice(0, limit);
    const T = input.ids.length;
    totals.plainMs += await fastest(plainRepeats, () => plainRun(plain, input.ids));
    const start = performance.now();
    for (const run of chunks(kept.slice(1), session.rowBytes(T), budget)) {
      await session.run(input.ids, run.map((row) => spanKnockout(T, row.tokens, session.layers)));
      totals.runs += 1;
    }
    totals.ms += performance.now() - start;
    totals.rows += kept.length;
    totals.defaultRows += all.length;
  }
  await session.release();
  await plain.release();
  return { ...totals, loadMb, peakMb: peakMb(), sequences: legal.length };
}

type Runner = <M>(model: string, length: string, step: 'knockout', extra?: number) => M;

export interface KnockoutRow {
  model: string;
  tokens: string;
  knockout: KnockoutMeasurement;
  /** Rows timed per sequence where fewer than compare's were (a projection follows). */
  timedRows?: number;
}

/** Fixed rows timed on the 7B shape: the baseline, the concept and 8 control runs. */
const TIMED_ROWS = 10;

/** The knockout rows: the shipped sequences of legal wording on tiny-legal-base, then `TIMED_ROWS` rows of one long text on the 7B shape. */
export function knockoutSection(inChild: Runner, lengths: readonly number[], say: (text: string) => void): KnockoutRow[] {
  // each row said as it comes: the 7B rows take many minutes
  const measured = (row: KnockoutRow): KnockoutRow => {
    say(`  ${JSON.stringify(row.knockout)}\n`);
    return row;
  };
  say('knockout: tiny-legal-base, the shipped sequences of legal wording …\n');
  const rows: KnockoutRow[] = [measured({ model: 'tiny-legal-base', tokens: 'shipped, legal wording', knockout: inChild('tiny', 'legal', 'knockout') })];
  for (const length of lengths) {
    say(`knockout: two layers of the 7B shape, ${length} tokens, ${TIMED_ROWS} rows …\n`);
    rows.push(measured({ model: '2 layers of 7B shape', tokens: String(length), knockout: inChild('7b-layers', String(length), 'knockout', TIMED_ROWS), timedRows: TIMED_ROWS }));
  }
  return rows;
}

/**
 * The section as a Markdown table: per sequence and per row, and the ratio to one plain
 * pass. The 7B rows project their ms per row to the shipped sequences' mean row count
 * (compare's default plan for the shipped concepts) and to the plan of their own text.
 */
export function knockoutTable(rows: readonly KnockoutRow[]): string[][] {
  const shipped = rows.find((r) => r.timedRows === undefined)?.knockout;
  const shippedRows = shipped ? shipped.defaultRows / shipped.sequences : undefined;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
  return [
    ['model', 'tokens', 'sequences', 'rows per sequence', 'session runs', 'plain per sequence', 'knockout per sequence', 'per row', '× plain: per sequence', 'per row', 'peak RSS beyond load', 'projected per sequence (from the rows timed)'],
    ...rows.map(({ model, tokens, knockout: k, timedRows }) => {
      const plainMs = k.plainMs / k.sequences;
      const perSequence = k.ms / k.sequences;
      const perRow = k.ms / k.rows;
      const ownRows = k.defaultRows / k.sequences;
      // in plain passes too: on a shared machine the seconds vary with its load, the ratio far less
      const projectedTo = (count: number, what: string): string => `${what} ${count.toFixed(0)} rows: ${((perRow / plainMs) * count).toFixed(0)} plain passes, ${seconds(perRow * count)}`;
      const projected = timedRows === undefined ? '' : [...(shippedRows ? [projectedTo(shippedRows, 'the shipped mean')] : []), projectedTo(ownRows, "this text's")].join('; ');
      return [model, tokens, String(k.sequences), (k.rows / k.sequences).toFixed(0), String(k.runs), `${plainMs.toFixed(1)} ms`, `${perSequence.toFixed(0)} ms`, `${perRow.toFixed(1)} ms`, `${(perSequence / plainMs).toFixed(0)}×`, `${(perRow / plainMs).toFixed(2)}×`, `${(k.peakMb - k.loadMb).toFixed(0)} MB`, projected];
    }),
  ];
}
