import type { Concept } from '../concepts/concept.js';
import { tokenizeSequence, type CheckpointTokenizer } from '../tokenize/tokenizer.js';

/**
 * Token ids that occur only inside the concept spans (unlabelled spans) of the chosen
 * concepts' sequences of legal wording, and nowhere else in any text (plain-wording
 * controls, components and every other concept's texts included), with the chosen
 * concepts that hold at least one of them: changing those tokens' embedding rows
 * changes these concepts' terms and nothing else (a concept whose term is made of
 * tokens found elsewhere too cannot be planted alone).
 */
export async function exclusiveTokens(tokenizer: CheckpointTokenizer, concepts: readonly Concept[], chosen: ReadonlySet<string>): Promise<{ tokens: number[]; planted: Set<string> }> {
  const inside = new Map<number, Set<string>>();
  const elsewhere = new Set<number>();
  for (const concept of concepts) {
    for (const sequence of concept.sequences) {
      const aligned = await tokenizeSequence(tokenizer, sequence.text, sequence.spans, sequence.id);
      const term = new Set(aligned.spans.filter((s) => !s.label).flatMap((s) => s.tokens));
      const plantable = chosen.has(concept.id) && !sequence.paraphraseOf;
      aligned.ids.forEach((value, t) => {
        const id = Number(value);
        if (plantable && term.has(t)) inside.set(id, (inside.get(id) ?? new Set()).add(concept.id));
        else elsewhere.add(id);
      });
    }
  }
  const tokens = [...inside.keys()].filter((id) => !elsewhere.has(id)).sort((a, b) => a - b);
  return { tokens, planted: new Set(tokens.flatMap((id) => [...inside.get(id)!])) };
}
