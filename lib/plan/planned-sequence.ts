import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Concept } from '../concepts/concept.js';
import { loadConcepts } from '../concepts/load-concepts.js';
import { parseMarkup } from '../concepts/markup.js';
import { badInput } from '../errors.js';
import type { ReferenceSpan } from '../reference/reference-spans.js';
import { loadTokenizer, tokenizeSequence, type AlignedSequence } from '../tokenize/tokenizer.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { checkLengthFits, checkVocabularyFits, fullMapBytes } from '../checkpoint/fit.js';

/** `none`: tokens only; `mean`: head-averaged maps `[layers, T, T]`; `full`: `[layers, heads, T, T]`. */
export type MapsMode = 'none' | 'mean' | 'full';
export const MAPS_MODES: readonly MapsMode[] = ['none', 'mean', 'full'];

/** What to plan: the sequences of a concept file or folder, or one text; with or without the chat template. */
export interface PlanRequest {
  /** A concept file or folder; or `text`, one plain sequence. */
  concepts?: string;
  text?: string;
  /** Wrap each sequence in the checkpoint's chat template (off by default: the study fed raw text). */
  chatTemplate?: boolean;
  /** Take the chat template from this checkpoint folder instead (compare: the instruct model's, for every model). */
  chatTemplateFrom?: string;
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

/** One traced sequence as trace.json lists it. */
export interface TracedSequence {
  concept?: string;
  sequence?: string;
  /** Folder of the sequence's files, relative to the output folder ('' for `--text`). */
  dir: string;
  tokens: number;
}

/** Every sequence to trace, tokenized and aligned by the checkpoint's tokenizer; `concepts` when they are loaded already. */
export async function planSequences(request: PlanRequest, checkpoint: Checkpoint, concepts?: readonly Concept[]): Promise<PlannedSequence[]> {
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
export function checkMapSize(request: { maps?: MapsMode; maxMapBytes?: number }, checkpoint: Checkpoint, planned: readonly PlannedSequence[]): void {
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

/** Identity of what was traced: every sequence's place, ids and spans. */
export function inputsDigest(planned: readonly PlannedSequence[]): string {
  const hash = createHash('sha256');
  for (const p of planned) hash.update(JSON.stringify([p.dir, Array.from(p.aligned.ids, Number), p.aligned.spans]));
  return hash.digest('hex');
}
