import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Concept } from './concepts/concept.js';
import { loadConcepts } from './concepts/load-concepts.js';
import { parseMarkup } from './concepts/markup.js';
import { badInput } from './errors.js';
import { writeJson, writeOutputFolder } from './io/atomic.js';
import { writeNpy, type Float32Tensor } from './io/npy.js';
import { tokensFile, type TokensIdentity } from './results/tokens-file.js';
import { traceRecord } from './results/trace-file.js';
import { headMean } from './measure/head-mean.js';
import type { ReferenceSpan } from './reference/reference-spans.js';
import { loadTokenizer, tokenizeSequence, type AlignedSequence } from './tokenize/tokenizer.js';
import { openCheckpoint, type Checkpoint } from './trace/checkpoint.js';
import { checkLengthFits, checkVocabularyFits, fullMapBytes } from './trace/fit.js';
import { checkDevice } from './trace/session.js';
import { traceAttentionCached, traceHeadMeansCached, type TraceOptions } from './trace/trace.js';

/** `none`: tokens only; `mean`: head-averaged maps `[layers, T, T]`; `full`: `[layers, heads, T, T]`. */
export type MapsMode = 'none' | 'mean' | 'full';
export const MAPS_MODES: readonly MapsMode[] = ['none', 'mean', 'full'];

export interface TraceRequest extends Omit<TraceOptions, 'onProgress'> {
  /** A checkpoint folder, or one already opened. */
  model: string | Checkpoint;
  /** A concept file or folder; or `text`, one plain sequence. */
  concepts?: string;
  text?: string;
  out: string;
  maps?: MapsMode;
  /** Refuse `--maps full` for a sequence whose map would be larger than this. */
  maxMapBytes?: number;
  cacheDir?: string;
  /** Replace a non-empty `out` that legal-attn did not write. */
  force?: boolean;
  /** Read and fill the trace cache (default true). */
  useCache?: boolean;
  /** Wrap each sequence in the checkpoint's chat template (off by default: the study fed raw text). */
  chatTemplate?: boolean;
  /** Take the chat template from this checkpoint folder instead (compare: the instruct model's, for every model). */
  chatTemplateFrom?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface TracedSequence {
  concept?: string;
  sequence?: string;
  /** Folder of the sequence's files, relative to the output folder ('' for `--text`). */
  dir: string;
  tokens: number;
}

export interface TraceSummary {
  out: string;
  checkpoint: Checkpoint;
  sequences: TracedSequence[];
  /** Sequences run through the model, and sequences read from the trace cache. */
  computed: number;
  fromCache: number;
}

export interface PlannedSequence {
  concept?: Concept;
  sequenceId?: string;
  paraphraseOf?: string;
  dir: string;
  aligned: AlignedSequence;
  /** The spans its targets are judged against (compare's reference plan); none for a plain trace. */
  references?: ReferenceSpan[];
}

export const DEFAULT_MAX_MAP_BYTES = 4 * 1024 ** 3;

/** Every sequence to trace, tokenized and aligned by the checkpoint's tokenizer; `concepts` when they are loaded already. */
export async function planSequences(request: TraceRequest, checkpoint: Checkpoint, concepts?: readonly Concept[]): Promise<PlannedSequence[]> {
  const tokenizer = await loadTokenizer(checkpoint.dir, { chatTemplate: request.chatTemplate ?? false, ...(request.chatTemplateFrom ? { chatTemplateFrom: request.chatTemplateFrom } : {}) });
  checkVocabularyFits(checkpoint, tokenizer.file, tokenizer.vocabSize);
  const planned: PlannedSequence[] = [];
  if (request.text !== undefined) {
    if (request.text.trim() === '') throw badInput('--text is empty; pass the text to trace.');
    // The same markup as concept files: `[[duty of care]]` marks the concept's words.
    const marked = parseMarkup(request.text, '--text');
    const aligned = await tokenizeSequence(tokenizer, marked.text, marked.spans, '--text');
    checkLengthFits(checkpoint, aligned.ids.length, '--text');
    planned.push({ dir: '', aligned });
  } else if (request.concepts !== undefined) {
    for (const concept of concepts ?? (await loadConcepts(request.concepts))) {
      for (const sequence of concept.sequences) {
        const where = `${sequence.origin.file}:${sequence.origin.line}: sequence ${sequence.id}`;
        const aligned = await tokenizeSequence(tokenizer, sequence.text, sequence.spans, where);
        checkLengthFits(checkpoint, aligned.ids.length, where);
        planned.push({ concept, sequenceId: sequence.id, dir: path.join(concept.id, sequence.id), aligned, ...(sequence.paraphraseOf ? { paraphraseOf: sequence.paraphraseOf } : {}) });
      }
    }
  } else {
    throw badInput('nothing to trace; pass --text "..." or --concepts PATH.');
  }
  return planned;
}

/** Refuses `--maps full` where one sequence's maps would exceed the limit (`--max-map-gb`). */
export function checkMapSize(request: Pick<TraceRequest, 'maps' | 'maxMapBytes'>, checkpoint: Checkpoint, planned: readonly PlannedSequence[]): void {
  const heads = checkpoint.shape.heads;
  if ((request.maps ?? 'full') !== 'full' || heads === undefined) return;
  const limit = request.maxMapBytes ?? DEFAULT_MAX_MAP_BYTES;
  const longest = Math.max(...planned.map((p) => p.aligned.ids.length));
  const bytes = fullMapBytes(checkpoint.graph.attention.length, heads, longest);
  if (bytes > limit) {
    throw badInput(
      `--maps full: the longest sequence (${longest} tokens) needs ${(bytes / 1024 ** 3).toFixed(2)} GiB of attention maps, over the ${(limit / 1024 ** 3).toFixed(2)} GiB limit; use --maps mean, or raise --max-map-gb.`,
    );
  }
}

/** What is written of one sequence's attention: per-head maps, head-averaged maps (of every layer, or of `layers`), or none. */
/** Per-head maps; or head-averaged maps of some layers, pooled into cells of `cellTokens` tokens a side for long texts; or none. */
export type SequenceMaps = { full: Float32Tensor } | { mean: Float32Tensor; layers?: number[]; cellTokens?: number } | Record<string, never>;

/** A sequence's `tokens.json` and the maps asked for, into its folder. */
export async function writeSequence(folder: string, planned: PlannedSequence, maps: SequenceMaps): Promise<void> {
  const identity: TokensIdentity = planned.concept ? { concept: planned.concept.id, ...(planned.sequenceId ? { sequence: planned.sequenceId } : {}), ...(planned.paraphraseOf ? { paraphraseOf: planned.paraphraseOf } : {}) } : {};
  if ('full' in maps) {
    await writeNpy(path.join(folder, 'attentions.npy'), maps.full);
    identity.attentions = { file: 'attentions.npy', shape: maps.full.dims, axes: ['layer', 'head', 'query', 'key'] };
  } else if ('mean' in maps) {
    await writeNpy(path.join(folder, 'attentions-mean.npy'), maps.mean);
    const axes = maps.cellTokens ? ['layer', 'query cell', 'key cell'] : ['layer', 'query', 'key'];
    identity.attentions = { file: 'attentions-mean.npy', shape: maps.mean.dims, axes, ...(maps.layers ? { layers: maps.layers } : {}), ...(maps.cellTokens ? { cellTokens: maps.cellTokens } : {}) };
  }
  await writeJson(path.join(folder, 'tokens.json'), tokensFile(planned.aligned, identity));
}

/**
 * The `trace` stage end to end: checks every input before the model is loaded, runs
 * the checkpoint once over all sequences and writes, per sequence, `tokens.json` and
 * the maps asked for. Each sequence folder appears whole or not at all; `trace.json`
 * is written last and lists what was traced.
 */
export async function traceToFolder(request: TraceRequest): Promise<TraceSummary> {
  const maps = request.maps ?? 'full';
  const openOptions = request.cacheDir === undefined ? {} : { cacheDir: request.cacheDir };
  const checkpoint = typeof request.model === 'string' ? await openCheckpoint(request.model, openOptions) : request.model;
  const planned = await planSequences(request, checkpoint);
  checkMapSize(request, checkpoint, planned);
  if (request.device) checkDevice(request.device);

  const out = path.resolve(request.out);
  const digest = inputsDigest(planned);
  const ids = planned.map((p) => p.aligned.ids);
  let computed = 0;
  let fromCache = 0;
  const record = await writeOutputFolder(out, { force: request.force ?? false }, async (staging) => {
    for await (const { index, sequenceMaps, cached } of tracesFor(request, checkpoint, ids, maps)) {
      if (cached) fromCache++;
      else if (maps !== 'none') computed++;
      const item = planned[index]!;
      await writeSequence(path.join(staging, item.dir), item, sequenceMaps);
    }
    const written = traceRecord(checkpoint, planned, { maps, chatTemplate: request.chatTemplate ?? false, inputsDigest: digest });
    await writeJson(path.join(staging, 'trace.json'), written);
    return written;
  });
  return { out, checkpoint, sequences: record.sequences, computed, fromCache };
}

/**
 * Each sequence's maps as they come: `full` from the patched graph (through the trace
 * cache unless it is off), `mean` averaged inside the graph where the attention was
 * found as Softmax nodes, `none` without running the model at all.
 */
async function* tracesFor(request: TraceRequest, checkpoint: Checkpoint, ids: BigInt64Array[], maps: MapsMode): AsyncGenerator<{ index: number; sequenceMaps: SequenceMaps; cached: boolean }> {
  if (maps === 'none') {
    for (let index = 0; index < ids.length; index++) yield { index, sequenceMaps: {}, cached: false };
    return;
  }
  if (maps === 'mean' && checkpoint.graph.attentionSource !== 'outputs') {
    for await (const { index, mean, cached } of traceHeadMeansCached(checkpoint, ids, request)) yield { index, sequenceMaps: { mean }, cached };
    return;
  }
  for await (const { index, attention, cached } of traceAttentionCached(checkpoint, ids, request)) yield { index, sequenceMaps: maps === 'mean' ? { mean: headMean(attention) } : { full: attention }, cached };
}

/** Identity of what was traced: every sequence's place, ids and spans. */
export function inputsDigest(planned: readonly PlannedSequence[]): string {
  const hash = createHash('sha256');
  for (const p of planned) hash.update(JSON.stringify([p.dir, Array.from(p.aligned.ids, Number), p.aligned.spans]));
  return hash.digest('hex');
}
