// The bench's knockout section: compare --knockout's passes (lib/knockout/capture.ts) against a
// plain forward pass of the same graph on the same sequences, rows cut into runs as compare cuts them.
import type { Checkpoint } from '../lib/checkpoint/checkpoint.js';
import { chunks, knockoutRows, layerSetsOf, rowBytes } from '../lib/knockout/rows.js';
import { optionValue } from '../lib/options/option-table.js';
import { openKnockoutSession, spanKnockout } from '../lib/runtime/knockout-session.js';
import { residualStreamOf } from '../lib/runtime/states-session.js';
import { peakMb, rssMb, type Input, type Measurement } from './inputs.js';

export interface KnockoutMeasurement extends Measurement {
  sequences: number;
  /** Rows run, each sequence's baseline included (its runs' repeated baselines not). */
  rows: number;
  /** Rows compare runs for these sequences by default (all layers, the default --controls). */
  defaultRows: number;
  /** Session runs: compare cuts a sequence's rows into runs that fit --max-memory-gb, each with its own baseline. */
  runs: number;
}

/** Each legal sequence's knockout rows (or its first `limit`), timed once: a run of hundreds of rows is minutes, not milliseconds. */
export async function knockoutPasses(checkpoint: Checkpoint, inputs: readonly Input[], limit?: number): Promise<KnockoutMeasurement> {
  const stream = await residualStreamOf(checkpoint);
  if (typeof stream === 'string') throw new Error(`${checkpoint.graphFile}: ${stream}`);
  const session = await openKnockoutSession(checkpoint, stream);
  const loadMb = rssMb();
  const shape = { vocab: checkpoint.graph.embeddingRows ?? checkpoint.shape.vocabSize ?? 0, heads: checkpoint.shape.heads ?? 1, hidden: checkpoint.shape.hiddenSize ?? 0 };
  const budget = optionValue<number>('maxMemoryGb', undefined) * 1024 ** 3;
  const legal = inputs.filter((i) => i.legal);
  let ms = 0;
  let rows = 0;
  let defaultRows = 0;
  let runs = 0;
  for (const input of legal) {
    const all = knockoutRows(input, input.references, layerSetsOf());
    const kept = limit === undefined ? all : all.slice(0, limit);
    const T = input.ids.length;
    const start = performance.now();
    for (const run of chunks(kept.slice(1), rowBytes(T, shape), budget)) {
      await session.run(input.ids, run.map((row) => spanKnockout(T, row.tokens, session.layers)));
      runs += 1;
    }
    ms += performance.now() - start;
    rows += kept.length;
    defaultRows += all.length;
  }
  await session.release();
  return { ms, loadMb, peakMb: peakMb(), sequences: legal.length, rows, defaultRows, runs };
}

type Runner = <M>(model: string, length: string, step: 'plain' | 'knockout', extra?: number) => M;

export interface KnockoutRow {
  model: string;
  tokens: string;
  plain: Measurement;
  knockout: KnockoutMeasurement;
  /** Rows timed per sequence where fewer than compare's were (a projection to these follows). */
  timedRows?: number;
}

/** Fixed rows timed on the 7B shape: the baseline, the concept and 8 control runs. */
const TIMED_ROWS = 10;

/** The knockout rows: the shipped sequences of legal wording on tiny-legal-base, then `TIMED_ROWS` rows of one long text on the 7B shape. */
export function knockoutSection(inChild: Runner, lengths: readonly number[], say: (text: string) => void): KnockoutRow[] {
  say('knockout: tiny-legal-base, the shipped sequences of legal wording …\n');
  const rows: KnockoutRow[] = [{ model: 'tiny-legal-base', tokens: 'shipped, legal wording', plain: inChild('tiny', 'legal', 'plain'), knockout: inChild('tiny', 'legal', 'knockout') }];
  for (const length of lengths) {
    say(`knockout: two layers of the 7B shape, ${length} tokens, ${TIMED_ROWS} rows …\n`);
    rows.push({ model: '2 layers of 7B shape', tokens: String(length), plain: inChild('7b-layers', String(length), 'plain'), knockout: inChild('7b-layers', String(length), 'knockout', TIMED_ROWS), timedRows: TIMED_ROWS });
  }
  return rows;
}

/** The section as a Markdown table: per sequence and per row, and the ratio to one plain pass. */
export function knockoutTable(rows: readonly KnockoutRow[]): string[][] {
  return [
    ['model', 'tokens', 'sequences', 'rows per sequence', 'session runs', 'plain per sequence', 'knockout per sequence', 'per row', '× plain: per sequence', 'per row', 'peak RSS beyond load', 'compare\'s rows per sequence, projected'],
    ...rows.map(({ model, tokens, plain, knockout: k, timedRows }) => {
      const plainMs = plain.ms / k.sequences;
      const perSequence = k.ms / k.sequences;
      const perRow = k.ms / k.rows;
      const projected = timedRows === undefined ? '' : `${(k.defaultRows / k.sequences).toFixed(0)} rows: ${((perRow * k.defaultRows) / k.sequences / 1000).toFixed(0)} s (projected from ${timedRows})`;
      return [model, tokens, String(k.sequences), (k.rows / k.sequences).toFixed(0), String(k.runs), `${plainMs.toFixed(0)} ms`, `${perSequence.toFixed(0)} ms`, `${perRow.toFixed(1)} ms`, `${(perSequence / plainMs).toFixed(0)}×`, `${(perRow / plainMs).toFixed(2)}×`, `${(k.peakMb - k.loadMb).toFixed(0)} MB`, projected];
    }),
  ];
}
