import type { Concept } from '../concepts/concept.js';
import { tokenizeSequence, type CheckpointTokenizer } from '../tokenize/tokenizer.js';

/**
 * Token ids that occur only inside the concept spans of the chosen concepts, in every
 * sequence of every concept, and the chosen concepts that hold at least one of them
 * (a concept whose term is made of tokens found elsewhere too cannot be planted alone):
 * changing those tokens' embedding rows (`synth --plant`) changes these concepts and nothing else.
 */
export async function exclusiveTokens(tokenizer: CheckpointTokenizer, concepts: readonly Concept[], chosen: ReadonlySet<string>): Promise<{ tokens: number[]; planted: Set<string> }> {
  const inside = new Map<number, Set<string>>();
  const elsewhere = new Set<number>();
  for (const concept of concepts) {
    for (const sequence of concept.sequences) {
      const aligned = await tokenizeSequence(tokenizer, sequence.text, sequence.spans, sequence.id);
      const spanned = new Set(aligned.spans.flatMap((s) => s.tokens));
      aligned.ids.forEach((value, t) => {
        const id = Number(value);
        if (chosen.has(concept.id) && spanned.has(t)) inside.set(id, (inside.get(id) ?? new Set()).add(concept.id));
        else elsewhere.add(id);
      });
    }
  }
  const tokens = [...inside.keys()].filter((id) => !elsewhere.has(id)).sort((a, b) => a - b);
  return { tokens, planted: new Set(tokens.flatMap((id) => [...inside.get(id)!])) };
}
