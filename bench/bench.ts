// npm run bench: what legal-attn costs next to a plain forward pass of the same graph
// on the same input, on the tiny family (the shipped concepts) and on synthetic
// Mistral-7B-shaped models (32 layers × 32 heads, 8 key/value heads) at 512, 2,048 and
// 4,096 tokens, and on the tiny base in the export formats users bring (float16, int8,
// 4-bit). Each measurement runs in a child process of its own, so that its peak
// resident memory (maxRSS) is its own; "beyond load" subtracts the resident memory
// once the session is loaded (weights, graph, runtime).
//
// Sections, all by default; BENCH_ONLY=knockout,value runs only those named:
// - attention: the in-graph measures, representations and full maps (the full bench takes hours);
// - knockout: compare --knockout's passes on tiny-legal-base and on two layers of the 7B shape;
// - value: the value-weighted lens beside the attention lens, in the graph.
// reports/bench.json keeps the sections not run from its last run.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { FULL_MAP_TOKENS, MAX_MAP_CELLS } from '../lib/measure/map-cells.js';
import { writeJson } from '../lib/io/atomic.js';
import { measureReduced, reductionLayout, widenInputs } from '../lib/measure/measure-reduced.js';
import { synthCheckpoint } from '../lib/synth/synth-checkpoint.js';
import { openCheckpoint, type Checkpoint } from '../lib/checkpoint/checkpoint.js';
import { fullMapBytes } from '../lib/checkpoint/fit.js';
import { openAttentionSession, openReducedSession } from '../lib/runtime/session.js';
import { poolMatrix, stateRows } from '../lib/represent/span-rows.js';
import { residualStreamOf } from '../lib/runtime/states-session.js';
import { PACKAGE_ROOT } from '../lib/version.js';
import { blockRowsFor, DEFAULT_ATTENTION_BYTES } from '../lib/measurers/measurer.js';
import { resolveAnalysis } from '../lib/options/analysis-options.js';
import { valueProjectionsOf } from '../lib/checkpoint/output-projection.js';
import { fastest, longInput, peakMb, plainRun, rssMb, shippedInputs, TINY, WORK, type Input, type Measurement } from './inputs.js';
import { knockoutPasses, knockoutSection, knockoutTable, type KnockoutRow } from './knockout-bench.js';

const SYNTH = path.join(WORK, 'synth-32x32-kv8-h256-p16k');
const SYNTH_SHAPE = { layers: 32, heads: 32, kvHeads: 8, hidden: 256, vocab: 4096, maxPositions: 16384 };
const LENGTHS = [512, 2048, 4096, 8192, 16384];
// Beyond this the unmodified graph's own [32, T, T] float32 scores take 8 GiB and more a tensor: not run on a 24 GB machine.
const PLAIN_LIMIT = 4096;
/** A few layers of Mistral-7B's shape: hidden 4096, 32 heads, 8 key/value heads, MLP 14336. */
const LAYER_7B = path.join(WORK, 'synth-7b-layers');
const LAYER_7B_SHAPE = { layers: 2, heads: 32, kvHeads: 8, hidden: 4096, intermediate: 14336, vocab: 4096 };
// Full maps are only taken where they stay under this (the CLI's default --max-map-gb).
const FULL_MAP_LIMIT = 4 * 1024 ** 3;
// Formats users bring, written from tiny-legal-base by spec/fixtures/exports/make-exports.py where Python has onnx.
const EXPORTS = path.join(WORK, 'exports');
const FORMATS = ['fp16', 'fp16-softmax-fp32', 'int8-qdq', 'int8-dynamic', 'int4-nbits'];
// Knockout on the 7B shape: 512 tokens, and 2,048 (one row and its baseline per run under the default --max-memory-gb).
const KNOCKOUT_LENGTHS = [512, 2048];

type Step = 'plain' | 'in-graph' | 'in-graph-value' | 'in-graph-states' | 'full' | 'knockout' | 'lenses-in-turn';

/** The unmodified graph, logits fetched: what any user of the model pays. */
async function plain(checkpoint: Checkpoint, inputs: Input[], repeats: number): Promise<Measurement> {
  const session = await ort.InferenceSession.create(checkpoint.graphFile, { graphOptimizationLevel: 'all' });
  const loadMb = rssMb();
  let ms = 0;
  for (const { ids } of inputs) ms += await fastest(repeats, () => plainRun(session, ids));
  await session.release();
  return { ms, loadMb, peakMb: peakMb() };
}

interface InGraphPasses {
  /** One pass over each group of `batch` inputs, its measures read. */
  groups: Array<() => Promise<void>>;
  loadMb: number;
  release(): Promise<void>;
}

/**
 * What compare runs: the graph with every measure reduced inside it, then the measures; with `states`, the residual states
 * pooled over the spans too (representations); with `value`, the value-weighted lens beside the attention lens.
 */
async function openInGraph(checkpoint: Checkpoint, inputs: Input[], batch: number, { states = false, value = false } = {}): Promise<InGraphPasses> {
  const layers = checkpoint.graph.attention.length;
  const longest = Math.max(...inputs.map((i) => i.ids.length));
  // As compare chooses: whole layers for short texts, else blocks of queries.
  const blockRows = blockRowsFor(checkpoint.shape.heads ?? 32, longest, batch, DEFAULT_ATTENTION_BYTES);
  // The report's head-averaged map of the last layer, as compare keeps it: T × T up to 4,096 tokens, pooled into cells beyond.
  const stream = states ? await residualStreamOf(checkpoint) : undefined;
  if (typeof stream === 'string') throw new Error(stream);
  const projections = value ? valueProjectionsOf([{ name: 'bench', graph: checkpoint.graph }]) : undefined;
  if (typeof projections === 'string') throw new Error(projections);
  const valueWeighted = projections?.get('bench');
  const plan = { entropy: true, columnSums: batch > 1 ? ('weighted' as const) : ('plain' as const), rolloutResidual: 0.5, meanLayers: [layers - 1], ...(longest > FULL_MAP_TOKENS ? { mapCells: MAX_MAP_CELLS } : {}), ...(blockRows ? { blockRows } : {}), ...(stream ? { states: stream } : {}), ...(valueWeighted ? { valueWeighted } : {}) };
  const rows = inputs.map((input) => stateRows(input, input.references));
  const session = await openReducedSession(checkpoint, plan);
  const layouts = inputs.map((input) => reductionLayout(input.ids.length, input.spans, resolveAnalysis().measure, input.references));
  const groups: Array<() => Promise<void>> = [];
  for (let start = 0; start < inputs.length; start += batch) {
    const group = layouts.slice(start, start + batch);
    const K = Math.max(...group.map((l) => l.keySetCount));
    const R = Math.max(...group.map((l) => l.rolloutCount));
    const ids = inputs.slice(start, start + batch).map((i) => i.ids);
    const S = Math.max(...rows.slice(start, start + batch).map((r) => r.length));
    const pools = ids.map((sequence, k) => (stream ? { pool: poolMatrix(rows[start + k]!, sequence.length, S) } : {}));
    groups.push(async () => {
      const results = await session.run(ids, group.map((l, k) => ({ ...widenInputs(l, K, R), ...pools[k] })));
      results.forEach((result, k) => measureReduced(result, group[k]!, resolveAnalysis().measure));
    });
  }
  return { groups, loadMb: rssMb(), release: () => session.release() };
}

async function inGraph(checkpoint: Checkpoint, inputs: Input[], repeats: number, batch: number, lenses: { states?: boolean; value?: boolean } = {}): Promise<Measurement> {
  const passes = await openInGraph(checkpoint, inputs, batch, lenses);
  let ms = 0;
  for (const group of passes.groups) ms += await fastest(repeats, group);
  await passes.release();
  return { ms, loadMb: passes.loadMb, peakMb: peakMb() };
}

/** The attention lens alone and with the value lens, timed input by input in turn, so that both see the same load on a shared machine. */
async function lensesInTurn(checkpoint: Checkpoint, inputs: Input[], repeats: number): Promise<{ attentionMs: number; valueMs: number }> {
  const attention = await openInGraph(checkpoint, inputs, 1);
  const value = await openInGraph(checkpoint, inputs, 1, { value: true });
  const times = { attentionMs: 0, valueMs: 0 };
  for (let k = 0; k < inputs.length; k++) {
    times.attentionMs += await fastest(repeats, attention.groups[k]!);
    times.valueMs += await fastest(repeats, value.groups[k]!);
  }
  await attention.release();
  await value.release();
  return times;
}

/** `--maps full`: every layer's per-head maps copied out. */
async function fullMaps(checkpoint: Checkpoint, inputs: Input[], repeats: number): Promise<Measurement> {
  const session = await openAttentionSession(checkpoint);
  const loadMb = rssMb();
  let ms = 0;
  for (const { ids } of inputs) ms += await fastest(repeats, () => session.run([ids]));
  await session.release();
  return { ms, loadMb, peakMb: peakMb() };
}

const modelFolder = (model: string): string => (model === 'tiny' ? TINY : model === 'synth' ? SYNTH : model === '7b-layers' ? LAYER_7B : path.join(EXPORTS, model));

/** The export formats, written once into the bench folder; none where no Python has onnx. */
function makeExports(): string[] {
  if (FORMATS.every((f) => existsSync(path.join(EXPORTS, f, 'model.onnx')))) return FORMATS;
  for (const python of ['/usr/bin/python3', 'python3']) {
    try {
      execFileSync(python, [path.join(PACKAGE_ROOT, 'spec', 'fixtures', 'exports', 'make-exports.py'), TINY, EXPORTS, '--only', FORMATS.join(',')], { stdio: 'ignore' });
      return FORMATS;
    } catch {
      // the next python, or none
    }
  }
  process.stderr.write('export formats skipped: no python3 with the onnx package (apt-get install python3-onnx)\n');
  return [];
}

async function child(model: string, length: string, step: Step, extra: string): Promise<void> {
  const checkpoint = await openCheckpoint(modelFolder(model), { cacheDir: path.join(WORK, 'cache') });
  const shipped = length === 'shipped' || length === 'legal';
  const inputs = shipped ? (await shippedInputs()).filter((i) => length === 'shipped' || i.legal) : [await longInput(Number(length))];
  const repeats = shipped ? 5 : Number(length) >= 8192 ? 1 : 2;
  const batch = Number(extra);
  const result =
    step === 'plain'
      ? await plain(checkpoint, inputs, repeats)
      : step === 'full'
        ? await fullMaps(checkpoint, inputs, repeats)
        : step === 'knockout'
          ? await knockoutPasses(checkpoint, inputs, shipped ? 3 : 1, batch > 1 ? batch : undefined)
          : step === 'lenses-in-turn'
            ? await lensesInTurn(checkpoint, inputs, repeats)
            : await inGraph(checkpoint, inputs, repeats, batch, { states: step === 'in-graph-states', value: step === 'in-graph-value' });
  process.stdout.write(JSON.stringify(result));
}

/** One measurement in a process of its own; `extra` is the sequences per pass (in-graph) or the rows timed (knockout). */
function inChild<M = Measurement>(model: string, length: string, step: Step, extra = 1): M {
  const script = new URL(import.meta.url).pathname;
  return JSON.parse(execFileSync(process.execPath, [script, 'child', model, length, step, String(extra)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as M;
}

interface Row {
  model: string;
  tokens: string;
  plain: Measurement | { refused: string };
  inGraph: Measurement;
  /** In-graph measures with the residual states pooled too (compare's default). */
  states?: Measurement;
  ratio?: number;
  full: Measurement | { refused: string };
}

/** A length, and how compare runs its attention there by default. */
const withBlocks = (heads: number, length: number): string => {
  const rows = blockRowsFor(heads, length, 1, DEFAULT_ATTENTION_BYTES);
  return `${length} (${rows ? `blocks of ${rows}` : 'whole layers'})`;
};

const mb = (m: Measurement): string => `${(m.peakMb - m.loadMb).toFixed(0)} MB`;

const say = (text: string): boolean => process.stderr.write(text);

function printTable(table: string[][]): void {
  const width = table.map((row) => row.map((cell) => cell.length)).reduce((a, b) => a.map((w, k) => Math.max(w, b[k] ?? 0)));
  for (const row of table) process.stdout.write(`| ${row.map((cell, k) => cell.padEnd(width[k] ?? 0)).join(' | ')} |\n`);
  process.stdout.write('\n');
}

/** The in-graph measures, representations and full maps against a plain pass, and the batching of the shipped sequences. */
async function attentionSection(): Promise<{ rows: Row[]; batching: Array<Measurement & { batch: number }> }> {
  if (!existsSync(path.join(SYNTH, 'model.onnx'))) await synthCheckpoint(SYNTH, SYNTH_SHAPE);
  const rows: Row[] = [];
  const inputs = await shippedInputs();
  const lengths = inputs.map((i) => i.ids.length);
  say(`tiny-legal-base, ${inputs.length} shipped sequences …\n`);
  const tinyPlain = inChild('tiny', 'shipped', 'plain');
  const tinyInGraph = inChild('tiny', 'shipped', 'in-graph');
  rows.push({ model: 'tiny-legal-base', tokens: `${inputs.length} seqs, ${Math.min(...lengths)}–${Math.max(...lengths)}`, plain: tinyPlain, inGraph: tinyInGraph, states: inChild('tiny', 'shipped', 'in-graph-states'), ratio: tinyInGraph.ms / tinyPlain.ms, full: inChild('tiny', 'shipped', 'full') });
  const batching = [1, 4, 8].map((batch) => ({ batch, ...inChild('tiny', 'shipped', 'in-graph', batch) }));
  for (const format of makeExports()) {
    say(`tiny-legal-base as ${format}, ${inputs.length} shipped sequences …\n`);
    const formatPlain = inChild(format, 'shipped', 'plain');
    const formatInGraph = inChild(format, 'shipped', 'in-graph');
    rows.push({ model: `tiny-legal-base, ${format}`, tokens: `${inputs.length} seqs`, plain: formatPlain, inGraph: formatInGraph, ratio: formatInGraph.ms / formatPlain.ms, full: inChild(format, 'shipped', 'full') });
  }
  for (const length of LENGTHS) {
    say(`synthetic 32 × 32, ${length} tokens …\n`);
    const synthPlain = length <= PLAIN_LIMIT ? inChild('synth', String(length), 'plain') : { refused: `[32, ${length}, ${length}] scores ${((32 * length * length * 4) / 1024 ** 3).toFixed(0)} GiB a tensor` };
    const synthInGraph = inChild('synth', String(length), 'in-graph');
    const bytes = fullMapBytes(SYNTH_SHAPE.layers, SYNTH_SHAPE.heads, length);
    const full = bytes <= FULL_MAP_LIMIT ? inChild('synth', String(length), 'full') : { refused: `${(bytes / 1024 ** 3).toFixed(0)} GiB of maps` };
    rows.push({ model: 'synthetic 32×32, kv 8, hidden 256', tokens: withBlocks(SYNTH_SHAPE.heads, length), plain: synthPlain, inGraph: synthInGraph, states: inChild('synth', String(length), 'in-graph-states'), ...('ms' in synthPlain ? { ratio: synthInGraph.ms / synthPlain.ms } : {}), full });
  }
  for (const length of [2048]) {
    say(`two layers of the 7B shape, ${length} tokens …\n`);
    const layerPlain = inChild('7b-layers', String(length), 'plain');
    const layerInGraph = inChild('7b-layers', String(length), 'in-graph');
    rows.push({ model: '2 layers of 7B shape (4096, 32/8 heads, MLP 14336)', tokens: withBlocks(LAYER_7B_SHAPE.heads, length), plain: layerPlain, inGraph: layerInGraph, states: inChild('7b-layers', String(length), 'in-graph-states'), ratio: layerInGraph.ms / layerPlain.ms, full: { refused: 'not run' } });
  }
  printTable([
    ['model', 'tokens', 'plain forward', 'in-graph measures', 'ratio', 'peak RSS beyond load: plain', 'in-graph', 'with representations', 'full maps'],
    ...rows.map((r) => [
      r.model,
      r.tokens,
      'refused' in r.plain ? `not run: ${r.plain.refused}` : `${r.plain.ms.toFixed(0)} ms`,
      `${r.inGraph.ms.toFixed(0)} ms`,
      r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`,
      'refused' in r.plain ? '' : mb(r.plain),
      mb(r.inGraph),
      r.states ? `${r.states.ms.toFixed(0)} ms, ${mb(r.states)}` : '',
      'refused' in r.full ? `not taken: ${r.full.refused}` : `${r.full.ms.toFixed(0)} ms, ${mb(r.full)}`,
    ]),
  ]);
  process.stdout.write(`batching the shipped sequences (in-graph measures): ${batching.map((b) => `${b.batch} per pass ${b.ms.toFixed(0)} ms`).join(', ')}\n\n`);
  return { rows, batching };
}

interface ValueRow {
  model: string;
  tokens: string;
  /** Each lens's pass in a process of its own, for its peak memory. */
  attention: Measurement;
  withValue: Measurement;
  /** Both timed in one process, input by input in turn. */
  inTurn: { attentionMs: number; valueMs: number };
}

/** The in-graph pass with the value-weighted lens beside the attention lens, against the attention lens alone (no residual states in either). */
function valueSection(): ValueRow[] {
  const rows: ValueRow[] = [];
  for (const [model, name, length] of [['tiny', 'tiny-legal-base', 'shipped'], ['7b-layers', '2 layers of 7B shape', '2048']] as const) {
    say(`value lens: ${name}, ${length} …\n`);
    rows.push({ model: name, tokens: length, inTurn: inChild(model, length, 'lenses-in-turn'), attention: inChild(model, length, 'in-graph'), withValue: inChild(model, length, 'in-graph-value') });
  }
  printTable([
    ['model', 'tokens', 'in-graph, attention lens', '+ value lens', 'time', 'peak RSS beyond load: attention', '+ value'],
    ...rows.map(({ model, tokens, inTurn, attention, withValue }) => [model, tokens, `${inTurn.attentionMs.toFixed(0)} ms`, `${inTurn.valueMs.toFixed(0)} ms`, `${((inTurn.valueMs / inTurn.attentionMs - 1) * 100).toFixed(0)} %`, mb(attention), mb(withValue)]),
  ]);
  return rows;
}

const SECTIONS = ['attention', 'knockout', 'value'] as const;
type Section = (typeof SECTIONS)[number];

/** The sections BENCH_ONLY names, or all. */
function sectionsToRun(): Set<Section> {
  const named = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (!named?.length) return new Set(SECTIONS);
  const unknown = named.filter((s) => !(SECTIONS as readonly string[]).includes(s));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: ${unknown.join(', ')} is not a section; name some of ${SECTIONS.join(', ')}`);
  return new Set(named as Section[]);
}

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child(process.argv[3]!, process.argv[4]!, process.argv[5] as Step, process.argv[6]!);
  const sections = sectionsToRun();
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 1024 ** 3), node: process.version, onnxruntime: ort.env.versions.common };
  process.stdout.write(`${machine.cpus} × ${machine.cpu}, ${machine.memoryGb} GB, Node ${machine.node}, onnxruntime ${machine.onnxruntime}\n\n`);
  if (!existsSync(path.join(LAYER_7B, 'model.onnx'))) await synthCheckpoint(LAYER_7B, LAYER_7B_SHAPE);
  const results: { attention?: Awaited<ReturnType<typeof attentionSection>>; knockout?: KnockoutRow[]; value?: ValueRow[] } = {};
  if (sections.has('attention')) results.attention = await attentionSection();
  if (sections.has('knockout')) {
    results.knockout = knockoutSection(inChild, KNOCKOUT_LENGTHS, say);
    printTable(knockoutTable(results.knockout));
  }
  if (sections.has('value')) results.value = valueSection();
  // the sections not run keep their last figures
  const file = path.join(PACKAGE_ROOT, 'reports', 'bench.json');
  const previous: object = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as object) : {};
  await writeJson(file, { ...previous, machine, ...results });
  process.stdout.write(`wrote ${file}\n`);
}

await main();
