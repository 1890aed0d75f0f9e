import path from 'node:path';
import type { Concept } from '../concepts/concept.js';
import { loadConcepts } from '../concepts/load-concepts.js';
import { parseMarkup } from '../concepts/markup.js';
import { badInput } from '../errors.js';
import type { ReferenceSpan } from '../reference/reference-spans.js';
import { loadTokenizer, tokenizeSequence, type AlignedSequence, type CheckpointTokenizer, type TemplateChoice } from '../tokenize/tokenizer.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { checkLengthFits, checkVocabularyFits } from '../checkpoint/fit.js';


/**
 * What to plan: the sequences of a concept file or folder, or one text; with or without
 * the chat template (off by default: the study fed raw text), the checkpoint's own or
 * that of `chatTemplateFrom` (compare: the instruct model's, for every model).
 */
export interface PlanRequest extends TemplateChoice {
  /** A concept file or folder; or `text`, one plain sequence. */
  concepts?: string;
  text?: string;
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

/** One traced sequence as trace.json lists it. */
export interface TracedSequence {
  concept?: string;
  sequence?: string;
  /** Folder of the sequence's files, relative to the output folder ('' for `--text`). */
  dir: string;
  tokens: number;
}

/** The checkpoint's tokenizer, wrapping texts as `template` says; its ids must fit the model's embedding. */
async function sequenceTokenizer(checkpoint: Checkpoint, template: TemplateChoice): Promise<CheckpointTokenizer> {
  const tokenizer = await loadTokenizer(checkpoint.dir, { chatTemplate: template.chatTemplate ?? false, ...(template.chatTemplateFrom ? { chatTemplateFrom: template.chatTemplateFrom } : {}) });
  checkVocabularyFits(checkpoint, tokenizer.file, tokenizer.vocabSize);
  return tokenizer;
}

/** Every sequence of loaded concepts, in concept-file order, tokenized and aligned by the checkpoint's tokenizer. */
export async function planConceptSequences(checkpoint: Checkpoint, concepts: readonly Concept[], template: TemplateChoice = {}): Promise<PlannedSequence[]> {
  const tokenizer = await sequenceTokenizer(checkpoint, template);
  const planned: PlannedSequence[] = [];
  for (const concept of concepts) {
    for (const sequence of concept.sequences) {
      const where = `${sequence.origin.file}:${sequence.origin.line}: sequence ${sequence.id}`;
      const aligned = await tokenizeSequence(tokenizer, sequence.text, sequence.spans, where);
      checkLengthFits(checkpoint, aligned.ids.length, where);
      planned.push({ concept, sequenceId: sequence.id, dir: path.join(concept.id, sequence.id), aligned, ...(sequence.paraphraseOf ? { paraphraseOf: sequence.paraphraseOf } : {}) });
    }
  }
  return planned;
}

/** Every sequence to trace: those of a concept file or folder, or one `--text`. */
export async function planSequences(request: PlanRequest, checkpoint: Checkpoint): Promise<PlannedSequence[]> {
  if (request.text !== undefined) {
    if (request.text.trim() === '') throw badInput('--text is empty; pass the text to trace.');
    const tokenizer = await sequenceTokenizer(checkpoint, request);
    // The same markup as concept files: `[[duty of care]]` marks the concept's words.
    const marked = parseMarkup(request.text, '--text');
    const aligned = await tokenizeSequence(tokenizer, marked.text, marked.spans, '--text');
    checkLengthFits(checkpoint, aligned.ids.length, '--text');
    return [{ dir: '', aligned }];
  }
  if (request.concepts !== undefined) return planConceptSequences(checkpoint, await loadConcepts(request.concepts), request);
  throw badInput('nothing to trace; pass --text "..." or --concepts PATH.');
}

/** Tokens of the longest planned sequence. */
export const longestSequence = (planned: readonly PlannedSequence[]): number => Math.max(0, ...planned.map((p) => p.aligned.ids.length));
