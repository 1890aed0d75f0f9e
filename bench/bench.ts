// npm run bench: what legal-attn costs next to a plain forward pass of the same graph
// on the same input, on the tiny family (the shipped concepts) and on synthetic
// Mistral-7B-shaped models (32 layers × 32 heads, 8 key/value heads) at 512, 2,048 and
// 4,096 tokens, and on the tiny base in the export formats users bring (float16, int8,
// 4-bit). Each measurement runs in a child process of its own, so that its peak
// resident memory (maxRSS) is its own; "beyond load" subtracts the resident memory
// once the session is loaded (weights, graph, runtime).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { FULL_MAP_TOKENS, MAX_MAP_CELLS } from '../lib/measure/map-cells.js';
import { writeJson } from '../lib/io/atomic.js';
import { measureReduced, reductionLayout, widenInputs } from '../lib/measure/measure-reduced.js';
import { targetsOf } from '../lib/measure/measure-sequence.js';
import { optionValue } from '../lib/options/option-table.js';
import { referencePlan } from '../lib/reference/reference-plan.js';
import { referenceSpans, type ReferenceSpan } from '../lib/reference/reference-spans.js';
import { synthCheckpoint } from '../lib/synth/synth-checkpoint.js';
import { conceptTokens, SPAN_RULES, type TokenSpan } from '../lib/tokenize/align-spans.js';
import { loadTokenizer, tokenizeSequence, type AlignedSequence } from '../lib/tokenize/tokenizer.js';
import { openCheckpoint, type Checkpoint } from '../lib/checkpoint/checkpoint.js';
import { fullMapBytes } from '../lib/checkpoint/fit.js';
import { openAttentionSession, openReducedSession } from '../lib/runtime/session.js';
import { poolMatrix, stateRows } from '../lib/represent/span-rows.js';
import { residualStreamOf } from '../lib/runtime/states-session.js';
import { PACKAGE_ROOT } from '../lib/version.js';
import { blockRowsFor, DEFAULT_ATTENTION_BYTES } from '../lib/measurers/measurer.js';
import { resolveAnalysis } from '../lib/options/analysis-options.js';

const TINY = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');
const WORK = path.join(os.tmpdir(), 'legal-attn-bench');
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

// Control runs per width, as compare plans them by default.
const DEFAULT_CONTROLS = optionValue<number>('controls', undefined);

type Step = 'plain' | 'in-graph' | 'in-graph-states' | 'full';

interface Input {
  ids: BigInt64Array;
  spans: TokenSpan[];
  references: ReferenceSpan[];
}

interface Measurement {
  /** Sum over inputs of the fastest of the repeats, ms. */
  ms: number;
  loadMb: number;
  peakMb: number;
}

async function shippedInputs(): Promise<Input[]> {
  const tokenizer = await loadTokenizer(TINY);
  const aligned: Array<AlignedSequence & { legal: boolean }> = [];
  for (const concept of await loadConcepts(CONCEPTS)) {
    for (const sequence of concept.sequences) aligned.push({ ...(await tokenizeSequence(tokenizer, sequence.text, sequence.spans, sequence.id)), legal: !sequence.paraphraseOf });
  }
  // the reference spans compare plans for them (embedding norms leave the spans as they are)
  const plan = referencePlan(
    aligned.map((a) => ({ ...a, annotated: conceptTokens(a.spans), targetWidths: targetsOf(a.spans, SPAN_RULES).map((t) => t.tokens.length) })),
    'not read by the bench',
    { controlsPerWidth: DEFAULT_CONTROLS, seed: 1 },
  );
  return aligned.map((a, k) => ({ ids: a.ids, spans: a.spans, references: plan.sequences[k]!.spans }));
}

/** One long text of `length` tokens: the shipped sequences one after another, the concept of one of them in the middle. */
async function longInput(length: number): Promise<Input> {
  const inputs = await shippedInputs();
  const ids = new BigInt64Array(length);
  ids[0] = inputs[0]!.ids[0]!;
  let at = 1;
  let spans: TokenSpan[] = [];
  for (let k = 0; at < length; k = (k + 1) % inputs.length) {
    const input = inputs[k]!;
    if (spans.length === 0 && at >= length / 2 - input.ids.length) spans = input.spans.map((s) => ({ ...s, tokens: s.tokens.map((t) => t - 1 + at) }));
    const body = input.ids.subarray(1, Math.min(input.ids.length, length - at + 1));
    ids.set(body, at);
    at += body.length;
  }
  const kept = spans.filter((s) => s.tokens.every((t) => t < length));
  // control runs of the shipped run's widths (no words: the text is a patchwork of ids)
  const widths = [...new Set(inputs.flatMap((i) => i.references.map((r) => r.tokens.length)))].sort((a, b) => a - b);
  return { ids, spans: kept, references: referenceSpans(length, new Set(conceptTokens(kept)), [], widths, 0, { controlsPerWidth: DEFAULT_CONTROLS, seed: 1 }) };
}

async function fastest(repeats: number, run: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let k = 0; k < repeats; k++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

const rssMb = (): number => process.memoryUsage().rss / 1024 ** 2;

/** The unmodified graph, logits fetched: what any user of the model pays. */
async function plain(checkpoint: Checkpoint, inputs: Input[], repeats: number): Promise<Measurement> {
  const session = await ort.InferenceSession.create(checkpoint.graphFile, { graphOptimizationLevel: 'all' });
  const loadMb = rssMb();
  let ms = 0;
  for (const { ids } of inputs) {
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    };
    ms += await fastest(repeats, () => session.run(feeds));
  }
  await session.release();
  return { ms, loadMb, peakMb: process.resourceUsage().maxRSS / 1024 };
}

/** What compare runs: the graph with every measure reduced inside it, then the measures; with `states`, the residual states pooled over the spans too (representations). */
async function inGraph(checkpoint: Checkpoint, inputs: Input[], repeats: number, batch: number, states = false): Promise<Measurement> {
  const layers = checkpoint.graph.attention.length;
  const longest = Math.max(...inputs.map((i) => i.ids.length));
  // As compare chooses: whole layers for short texts, else blocks of queries.
  const blockRows = blockRowsFor(checkpoint.shape.heads ?? 32, longest, batch, DEFAULT_ATTENTION_BYTES);
  // The report's head-averaged map of the last layer, as compare keeps it: T × T up to 4,096 tokens, pooled into cells beyond.
  const stream = states ? await residualStreamOf(checkpoint) : undefined;
  if (typeof stream === 'string') throw new Error(stream);
  const plan = { entropy: true, columnSums: batch > 1 ? ('weighted' as const) : ('plain' as const), rolloutResidual: 0.5, meanLayers: [layers - 1], ...(longest > FULL_MAP_TOKENS ? { mapCells: MAX_MAP_CELLS } : {}), ...(blockRows ? { blockRows } : {}), ...(stream ? { states: stream } : {}) };
  const rows = inputs.map((input) => stateRows(input, input.references));
  const session = await openReducedSession(checkpoint, plan);
  const loadMb = rssMb();
  const layouts = inputs.map((input) => reductionLayout(input.ids.length, input.spans, resolveAnalysis().measure, input.references));
  let ms = 0;
  for (let start = 0; start < inputs.length; start += batch) {
    const group = layouts.slice(start, start + batch);
    const K = Math.max(...group.map((l) => l.keySetCount));
    const R = Math.max(...group.map((l) => l.rolloutCount));
    const ids = inputs.slice(start, start + batch).map((i) => i.ids);
    const S = Math.max(...rows.slice(start, start + batch).map((r) => r.length));
    const pools = ids.map((sequence, k) => (stream ? { pool: poolMatrix(rows[start + k]!, sequence.length, S) } : {}));
    ms += await fastest(repeats, async () => {
      const results = await session.run(ids, group.map((l, k) => ({ ...widenInputs(l, K, R), ...pools[k] })));
      results.forEach((result, k) => measureReduced(result, group[k]!, resolveAnalysis().measure));
    });
  }
  await session.release();
  return { ms, loadMb, peakMb: process.resourceUsage().maxRSS / 1024 };
}

/** `--maps full`: every layer's per-head maps copied out. */
async function fullMaps(checkpoint: Checkpoint, inputs: Input[], repeats: number): Promise<Measurement> {
  const session = await openAttentionSession(checkpoint);
  const loadMb = rssMb();
  let ms = 0;
  for (const { ids } of inputs) ms += await fastest(repeats, () => session.run([ids]));
  await session.release();
  return { ms, loadMb, peakMb: process.resourceUsage().maxRSS / 1024 };
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

async function child(model: string, length: string, step: Step, batch: string): Promise<void> {
  const checkpoint = await openCheckpoint(modelFolder(model), { cacheDir: path.join(WORK, 'cache') });
  const inputs = length === 'shipped' ? await shippedInputs() : [await longInput(Number(length))];
  const repeats = length === 'shipped' ? 5 : Number(length) >= 8192 ? 1 : 2;
  const result = step === 'plain' ? await plain(checkpoint, inputs, repeats) : step === 'full' ? await fullMaps(checkpoint, inputs, repeats) : await inGraph(checkpoint, inputs, repeats, Number(batch), step === 'in-graph-states');
  process.stdout.write(JSON.stringify(result));
}

function inChild(model: string, length: string, step: Step, batch = 1): Measurement {
  const script = new URL(import.meta.url).pathname;
  return JSON.parse(execFileSync(process.execPath, [script, 'child', model, length, step, String(batch)], { encoding: 'utf8', maxBuffer: 1 << 20 })) as Measurement;
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

async function main(): Promise<void> {
  if (process.argv[2] === 'child') return child(process.argv[3]!, process.argv[4]!, process.argv[5] as Step, process.argv[6]!);
  if (!existsSync(path.join(SYNTH, 'model.onnx'))) await synthCheckpoint(SYNTH, SYNTH_SHAPE);
  const rows: Row[] = [];
  const say = (text: string) => process.stderr.write(text);
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
  if (!existsSync(path.join(LAYER_7B, 'model.onnx'))) await synthCheckpoint(LAYER_7B, LAYER_7B_SHAPE);
  for (const length of [2048]) {
    say(`two layers of the 7B shape, ${length} tokens …\n`);
    const layerPlain = inChild('7b-layers', String(length), 'plain');
    const layerInGraph = inChild('7b-layers', String(length), 'in-graph');
    rows.push({ model: '2 layers of 7B shape (4096, 32/8 heads, MLP 14336)', tokens: withBlocks(LAYER_7B_SHAPE.heads, length), plain: layerPlain, inGraph: layerInGraph, states: inChild('7b-layers', String(length), 'in-graph-states'), ratio: layerInGraph.ms / layerPlain.ms, full: { refused: 'not run' } });
  }
  const machine = { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 1024 ** 3), node: process.version, onnxruntime: ort.env.versions.common };
  const table = [
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
  ];
  const width = table.map((row) => row.map((cell) => cell.length)).reduce((a, b) => a.map((w, k) => Math.max(w, b[k] ?? 0)));
  process.stdout.write(`${machine.cpus} × ${machine.cpu}, ${machine.memoryGb} GB, Node ${machine.node}, onnxruntime ${machine.onnxruntime}\n\n`);
  for (const row of table) process.stdout.write(`| ${row.map((cell, k) => cell.padEnd(width[k] ?? 0)).join(' | ')} |\n`);
  process.stdout.write(`\nbatching the shipped sequences (in-graph measures): ${batching.map((b) => `${b.batch} per pass ${b.ms.toFixed(0)} ms`).join(', ')}\n`);
  const file = path.join(PACKAGE_ROOT, 'reports', 'bench.json');
  await writeJson(file, { machine, rows, batching });
  process.stdout.write(`wrote ${file}\n`);
}

await main();
