import { badInput } from '../errors.js';
import type { ConceptSpan } from './concept.js';

export interface MarkedText {
  text: string;
  spans: ConceptSpan[];
}

const LABEL = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * Strips inline span markers from annotated text: `[[duty of care]]` marks a span of
 * the concept, `[[duty of care|duty]]` a labelled component. Offsets of the returned
 * spans count code points of the plain text. `where` prefixes error messages.
 */
export function parseMarkup(annotated: string, where: string): MarkedText {
  const chars = Array.from(annotated);
  const spans: ConceptSpan[] = [];
  let text = '';
  let plainLength = 0;
  let open: { start: number; body: string } | undefined;

  for (let i = 0; i < chars.length; i++) {
    const c = chars[i];
    const next = chars[i + 1];
    if (c === '[' && next === '[') {
      if (open) throw badInput(`${where}: a span opened with "[[" inside another span; spans must not nest.`);
      open = { start: plainLength, body: '' };
      i++;
    } else if (c === ']' && next === ']') {
      if (!open) throw badInput(`${where}: "]]" closes no span; open it with "[[" or remove it.`);
      const bar = open.body.lastIndexOf('|');
      const shown = bar >= 0 ? open.body.slice(0, bar) : open.body;
      const label = bar >= 0 ? open.body.slice(bar + 1).trim() : undefined;
      if (shown.trim() === '') throw badInput(`${where}: the span "[[${open.body}]]" is empty; put the concept's words between the brackets.`);
      if (label !== undefined && !LABEL.test(label)) {
        throw badInput(`${where}: the span label "${label}" must be kebab-case (letters, digits and dashes), as in [[duty of care|duty]].`);
      }
      text += shown;
      const end = open.start + Array.from(shown).length;
      plainLength = end;
      spans.push(label === undefined ? { start: open.start, end } : { start: open.start, end, label });
      open = undefined;
      i++;
    } else if (open) {
      open.body += c;
    } else {
      text += c;
      plainLength++;
    }
  }
  if (open) throw badInput(`${where}: a span opened with "[[" is never closed; add "]]" after the concept's words.`);
  return { text, spans };
}
