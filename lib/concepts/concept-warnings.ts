import type { Concept } from './concept.js';

const pairKey = (a: string, b: string): string => [a, b].sort().join('|');

/**
 * Why a concept's structure cannot be tested, or undefined when it can: the structure
 * test contrasts attention on declared pairs of components with attention on the other
 * pairs found in its sequences of legal wording, so it needs both kinds of pair.
 */
export function uncontrastedStructure(concept: Concept): string | undefined {
  const components = concept.components ?? [];
  if (!concept.structure?.length || components.length < 2) return undefined;
  const declared = new Set(concept.structure.map(([a, b]) => pairKey(a, b)));
  const all = components.flatMap((a, i) => components.slice(i + 1).map((b) => pairKey(a, b)));
  if (all.every((pair) => declared.has(pair))) {
    return `every pair of its components (${components.join(', ')}) is declared under structure, so no undeclared pair is left to contrast the declared ones with and the structure test can say nothing`;
  }
  const found = new Set<string>();
  for (const sequence of concept.sequences.filter((s) => !s.paraphraseOf)) {
    const labels = [...new Set(sequence.spans.flatMap((span) => (span.label ? [span.label] : [])))];
    labels.forEach((a, i) => labels.slice(i + 1).forEach((b) => found.add(pairKey(a, b))));
  }
  if (![...found].some((pair) => !declared.has(pair))) {
    return 'no sequence of legal wording labels two components that the structure does not relate, so no undeclared pair is left to contrast the declared ones with and the structure test can say nothing';
  }
  return undefined;
}

/** What an annotator should know about a concept that is valid but cannot be measured in full: one line each, naming file and line. */
export function conceptWarnings(concept: Concept): string[] {
  const structure = uncontrastedStructure(concept);
  return structure ? [`${concept.origin.file}:${concept.origin.line}: concept ${concept.id}: ${structure}; declare a third component, or annotate pairs the structure does not relate.`] : [];
}
