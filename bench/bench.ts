// npm run bench: what tracing costs next to a plain forward pass of the same graph on
// the same input. Each measurement runs in a child process of its own, so that its
// peak resident memory (maxRSS) is its own.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { writeJson } from '../lib/io/atomic.js';
import { traceToFolder } from '../lib/run-trace.js';
import { loadTokenizer } from '../lib/tokenize/tokenizer.js';
import { openCheckpoint } from '../lib/trace/checkpoint.js';
import { openAttentionSession } from '../lib/trace/session.js';
import { PACKAGE_ROOT } from '../lib/version.js';

const REPEATS = 5;
const MODEL = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');

interface Measurement {
  /** Sum over sequences of the fastest of REPEATS runs, ms. */
  forwardMs: number;
  /** Wall time of the whole step, ms (loading included). */
  wallMs: number;
  peakRssMb: number;
}

async function shippedSequences(): Promise<BigInt64Array[]> {
  const tokenizer = await loadTokenizer(MODEL);
  const concepts = await loadConcepts(CONCEPTS);
  const texts = concepts.flatMap((c) => c.sequences.map((s) => s.text));
  return Promise.all(texts.map(async (text) => (await tokenizer.encode(text)).ids));
}

async function fastest(run: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let k = 0; k < REPEATS; k++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

/** A plain forward pass of the unmodified graph: logits only. */
async function measurePlain(): Promise<number> {
  const sequences = await shippedSequences();
  const session = await ort.InferenceSession.create(path.join(MODEL, 'model.onnx'), { graphOptimizationLevel: 'all' });
  let total = 0;
  for (const ids of sequences) {
    const feeds = {
      input_ids: new ort.Tensor('int64', ids, [1, ids.length]),
      attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
    };
    total += await fastest(() => session.run(feeds));
  }
  await session.release();
  return total;
}

/** The same passes through the tracer's session, attentions copied out per sequence. */
async function measureTraced(): Promise<number> {
  const sequences = await shippedSequences();
  const session = await openAttentionSession(await openCheckpoint(MODEL));
  let total = 0;
  for (const ids of sequences) total += await fastest(() => session.run([ids]));
  await session.release();
  return total;
}

/** `legal-attn trace --concepts concepts/ --maps full` end to end, files written. */
async function measureTraceCommand(): Promise<number> {
  const out = await mkdtemp(path.join(os.tmpdir(), 'legal-attn-bench-'));
  const start = performance.now();
  await traceToFolder({ model: MODEL, concepts: CONCEPTS, out, maps: 'full', useCache: false });
  const elapsed = performance.now() - start;
  await rm(out, { recursive: true, force: true });
  return elapsed;
}

const steps = { plain: measurePlain, traced: measureTraced, command: measureTraceCommand } as const;
type Step = keyof typeof steps;

async function child(step: Step): Promise<void> {
  const start = performance.now();
  const forwardMs = await steps[step]();
  const result: Measurement = { forwardMs, wallMs: performance.now() - start, peakRssMb: process.resourceUsage().maxRSS / 1024 };
  process.stdout.write(JSON.stringify(result));
}

function inChild(step: Step): Measurement {
  const script = new URL(import.meta.url).pathname;
  return JSON.parse(execFileSync(process.execPath, [script, step], { encoding: 'utf8' })) as Measurement;
}

async function main(): Promise<void> {
  const step = process.argv[2];
  if (step && step in steps) return child(step as Step);
  const sequences = await shippedSequences();
  const tokens = sequences.map((s) => s.length);
  const plain = inChild('plain');
  const traced = inChild('traced');
  const command = inChild('command');
  const report = {
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 1024 ** 3), node: process.version },
    model: 'tiny-legal-base',
    sequences: sequences.length,
    tokens: { min: Math.min(...tokens), max: Math.max(...tokens), total: tokens.reduce((a, b) => a + b, 0) },
    plainForward: plain,
    tracedForward: traced,
    ratio: traced.forwardMs / plain.forwardMs,
    traceCommand: command,
  };
  const table = [
    ['measure', 'time', 'peak RSS'],
    ['plain forward, all sequences (fastest of 5 each)', `${plain.forwardMs.toFixed(1)} ms`, `${plain.peakRssMb.toFixed(0)} MB`],
    ['traced forward, all sequences (fastest of 5 each)', `${traced.forwardMs.toFixed(1)} ms`, `${traced.peakRssMb.toFixed(0)} MB`],
    ['ratio traced / plain', `${report.ratio.toFixed(2)}×`, ''],
    ['legal-attn trace --concepts concepts --maps full (whole run)', `${command.forwardMs.toFixed(0)} ms`, `${command.peakRssMb.toFixed(0)} MB`],
  ];
  const width = table.map((row) => row.map((cell) => cell.length)).reduce((a, b) => a.map((w, k) => Math.max(w, b[k] ?? 0)));
  process.stdout.write(`${sequences.length} sequences of the shipped concepts (${report.tokens.min}-${report.tokens.max} tokens) on ${report.model}; ${report.machine.cpus} × ${report.machine.cpu}\n\n`);
  for (const row of table) process.stdout.write(`${row.map((cell, k) => cell.padEnd(width[k] ?? 0)).join('  ')}\n`);
  const file = path.join(PACKAGE_ROOT, 'reports', 'bench.json');
  await writeJson(file, report);
  process.stdout.write(`\nwrote ${file}\n`);
}

await main();
