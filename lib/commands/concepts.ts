import { loadConcepts } from '../concepts/load-concepts.js';
import { displayToken } from '../tokenize/display-token.js';
import { loadTokenizer, tokenizeSequence } from '../tokenize/tokenizer.js';

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
}

/**
 * `concepts check`: validates concept files and, with a model, shows for each span the
 * tokens it covers under that model's tokenizer, so annotators see what the model sees.
 */
export async function checkConcepts(target: string, options: { model?: string; chatTemplate?: boolean } = {}): Promise<CheckedConcept[]> {
  const concepts = await loadConcepts(target);
  const tokenizer = options.model ? await loadTokenizer(options.model, { chatTemplate: options.chatTemplate ?? false }) : undefined;
  const checked: CheckedConcept[] = [];
  for (const concept of concepts) {
    const sequences: CheckedConcept['sequences'] = [];
    for (const sequence of concept.sequences) {
      const chars = Array.from(sequence.text);
      const where = `${sequence.origin.file}:${sequence.origin.line}: sequence ${sequence.id}`;
      const aligned = tokenizer ? await tokenizeSequence(tokenizer, sequence.text, sequence.spans, where) : undefined;
      sequences.push({
        id: sequence.id,
        line: sequence.origin.line,
        ...(aligned ? { tokens: aligned.ids.length } : {}),
        ...(sequence.paraphraseOf ? { paraphraseOf: sequence.paraphraseOf } : {}),
        spans: sequence.spans.map((span, k) => ({
          ...span,
          text: chars.slice(span.start, span.end).join(''),
          ...(aligned ? { tokens: aligned.spans[k]!.tokens.map((index) => ({ index, token: aligned.tokens[index]! })) } : {}),
        })),
      });
    }
    checked.push({ id: concept.id, name: concept.name, area: concept.area, file: concept.origin.file, sequences });
  }
  return checked;
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
  lines.push(`${concepts.length} concepts, ${sequences} sequences: valid`);
  return `${lines.join('\n')}\n`;
}
