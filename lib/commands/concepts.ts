import type { Concept } from '../concepts/concept.js';
import { conceptWarnings } from '../concepts/concept-warnings.js';
import { loadConcepts } from '../concepts/load-concepts.js';
import { openCheckpoint } from '../checkpoint/checkpoint.js';
import { planConceptSequences, type PlannedSequence } from '../plan/planned-sequence.js';
import { uncontrolledTargets } from '../plan/plan-references.js';
import { displayToken } from '../tokenize/display-token.js';

export interface CheckedSpan {
  start: number;
  end: number;
  label?: string;
  text: string;
  /** What the model sees: token indices and strings (with a model only). */
  tokens?: Array<{ index: number; token: string }>;
}

export interface CheckedConcept {
  id: string;
  name: string;
  area: string;
  file: string;
  sequences: Array<{ id: string; line: number; tokens?: number; paraphraseOf?: string; spans: CheckedSpan[] }>;
  /** What is valid but cannot be measured in full (one line each, naming file and line); empty when nothing. */
  warnings: string[];
}

export interface CheckOptions {
  model?: string;
  chatTemplate?: boolean;
  cacheDir?: string;
}

/** Spans of a sequence as the annotator wrote them, with the tokens each covers when planned under a model. */
function checkedSpans(sequence: Concept['sequences'][number], planned: PlannedSequence | undefined): CheckedSpan[] {
  const chars = Array.from(sequence.text);
  const aligned = planned?.aligned;
  return sequence.spans.map((span, k) => ({
    ...span,
    text: chars.slice(span.start, span.end).join(''),
    ...(aligned ? { tokens: aligned.spans[k]!.tokens.map((index) => ({ index, token: aligned.tokens[index]! })) } : {}),
  }));
}

/** A sequence none of whose control runs compare can measure a target of against: said before the run. */
const uncontrolledWarning = ({ sequence, target, width }: ReturnType<typeof uncontrolledTargets>[number]): string => {
  const { file, line } = sequence.concept!.sequences.find((s) => s.id === sequence.sequenceId)!.origin;
  return `${file}:${line}: sequence ${sequence.sequenceId}: its ${target} target covers ${width} of its ${sequence.aligned.ids.length} tokens and no sequence of these concepts leaves ${width} consecutive tokens free for a control run, so compare leaves this sequence out of the ${target} lift over controls; mark fewer words, or add longer sequences.`;
};

/**
 * `concepts check`: validates concept files and, with a model, plans them as compare
 * does (the same tokenizer, vocabulary and length checks), showing for each span the
 * tokens it covers, so annotators see what the model sees. Warnings name what is valid
 * but cannot be measured in full.
 */
export async function checkConcepts(target: string, options: CheckOptions = {}): Promise<CheckedConcept[]> {
  const concepts = await loadConcepts(target);
  const checkpoint = options.model ? await openCheckpoint(options.model, options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }) : undefined;
  const planned = checkpoint ? await planConceptSequences(checkpoint, concepts, { chatTemplate: options.chatTemplate ?? false }) : [];
  // only the targets compare measures by default: the concept by overlap and its components
  const uncontrolled = uncontrolledTargets(planned).filter((u) => !u.target.startsWith('concept@'));
  return concepts.map((concept) => ({
    id: concept.id,
    name: concept.name,
    area: concept.area,
    file: concept.origin.file,
    sequences: concept.sequences.map((sequence) => {
      const plan = planned.find((p) => p.concept === concept && p.sequenceId === sequence.id);
      return {
        id: sequence.id,
        line: sequence.origin.line,
        ...(plan ? { tokens: plan.aligned.ids.length } : {}),
        ...(sequence.paraphraseOf ? { paraphraseOf: sequence.paraphraseOf } : {}),
        spans: checkedSpans(sequence, plan),
      };
    }),
    warnings: [...conceptWarnings(concept), ...uncontrolled.filter((u) => u.sequence.concept === concept).map(uncontrolledWarning)],
  }));
}

/** The human-readable form: one line per span. */
export function formatCheckedConcepts(concepts: readonly CheckedConcept[]): string {
  const lines: string[] = [];
  for (const concept of concepts) {
    lines.push(`${concept.id} (${concept.area}) ${concept.file}`);
    for (const sequence of concept.sequences) {
      lines.push(`  ${sequence.id}${sequence.paraphraseOf ? ` (plain wording of ${sequence.paraphraseOf})` : ''}${sequence.tokens ? `, ${sequence.tokens} tokens` : ''}`);
      for (const span of sequence.spans) {
        const covered = span.tokens ? ` → ${span.tokens.map((t) => `${t.index}:${displayToken(t.token)}`).join(' ')}` : '';
        lines.push(`    [${span.start}, ${span.end}) "${span.text}"${span.label ? ` |${span.label}` : ''}${covered}`);
      }
    }
  }
  const sequences = concepts.reduce((n, c) => n + c.sequences.length, 0);
  const warnings = concepts.reduce((n, c) => n + c.warnings.length, 0);
  lines.push(`${concepts.length} concepts, ${sequences} sequences: valid${warnings > 0 ? `, ${warnings} warning${warnings === 1 ? '' : 's'} (on stderr)` : ''}`);
  return `${lines.join('\n')}\n`;
}

/** The warnings, one line each, for stderr. */
export const checkWarnings = (concepts: readonly CheckedConcept[]): string => concepts.flatMap((c) => c.warnings.map((w) => `warning: ${w}\n`)).join('');
