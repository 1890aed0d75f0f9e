// The bench's inputs and what it records of one measurement, shared by bench.ts and its sections.
import os from 'node:os';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadConcepts } from '../lib/concepts/load-concepts.js';
import { targetsOf } from '../lib/measure/measure-sequence.js';
import { optionValue } from '../lib/options/option-table.js';
import { referencePlan } from '../lib/reference/reference-plan.js';
import { referenceSpans, type ReferenceSpan } from '../lib/reference/reference-spans.js';
import { conceptTokens, SPAN_RULES, type TokenSpan } from '../lib/tokenize/align-spans.js';
import { loadTokenizer, tokenizeSequence, type AlignedSequence } from '../lib/tokenize/tokenizer.js';
import { PACKAGE_ROOT } from '../lib/version.js';

export const TINY = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base');
const CONCEPTS = path.join(PACKAGE_ROOT, 'concepts');
export const WORK = path.join(os.tmpdir(), 'legal-attn-bench');

// Control runs per width, as compare plans them by default.
const DEFAULT_CONTROLS = optionValue<number>('controls', undefined);

export interface Input {
  ids: BigInt64Array;
  spans: TokenSpan[];
  references: ReferenceSpan[];
  /** Legal wording (not a plain-wording paraphrase): the sequences compare runs knockout passes on. */
  legal: boolean;
}

export interface Measurement {
  /** Sum over inputs of the fastest of the repeats, ms. */
  ms: number;
  loadMb: number;
  peakMb: number;
}

export async function shippedInputs(): Promise<Input[]> {
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
  return aligned.map((a, k) => ({ ids: a.ids, spans: a.spans, references: plan.sequences[k]!.spans, legal: a.legal }));
}

/** One long text of `length` tokens: the shipped sequences one after another, the concept of one of them in the middle. */
export async function longInput(length: number): Promise<Input> {
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
  return { ids, spans: kept, references: referenceSpans(length, new Set(conceptTokens(kept)), [], widths, 0, { controlsPerWidth: DEFAULT_CONTROLS, seed: 1 }), legal: true };
}

export async function fastest(repeats: number, run: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let k = 0; k < repeats; k++) {
    const start = performance.now();
    await run();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

export const rssMb = (): number => process.memoryUsage().rss / 1024 ** 2;

export const peakMb = (): number => process.resourceUsage().maxRSS / 1024;

/** One pass of the unmodified graph on one sequence, logits fetched: what any user of the model pays. */
export const plainRun = (session: ort.InferenceSession, ids: BigInt64Array): Promise<ort.InferenceSession.ReturnType> =>
  session.run({
    input_ids: new ort.Tensor('int64', ids, [1, ids.length]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  });
