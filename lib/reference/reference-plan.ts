import type { Offset } from '../tokenize/align-spans.js';
import { referenceSpans, type ReferenceOptions, type ReferenceSpan } from './reference-spans.js';
import { CLASS_FEATURES, tokenClasses, type TokenClasses } from './token-classes.js';

/**
 * What every target of a run is judged against, decided once before any model runs:
 * each sequence's token classes and reference spans. Written to `references.json`, so
 * that `measure` judges by the same spans without the models.
 */
export interface ReferencePlan {
  /** The class features controls are matched on. */
  features: string[];
  /** Why the embedding row norm is not among them, where it is not. */
  embeddingUnread?: string;
  controlsPerWidth: number;
  seed: number;
  /** In plan order; a control sequence (plain wording) has token classes but no spans of its own. */
  sequences: Array<{ classes: TokenClasses; spans: ReferenceSpan[] }>;
}

export interface PlanInput {
  ids: ArrayLike<bigint | number>;
  text: string;
  offsets: readonly Offset[];
  /** Every annotated token (concept and components): no reference span touches one. */
  annotated: readonly number[];
  /** Widths in tokens of the sequence's targets (the concept under each span rule, each component). */
  targetWidths: readonly number[];
  /** A sequence of legal wording (not a plain-wording control). */
  legal: boolean;
}

/**
 * The reference plan of a run: token classes of every sequence, and in each sequence of
 * legal wording control runs of every width a target or word of the run has, and its
 * words. `embeddingNorm` gives the first model's embedding row norm of an id, or says
 * why it cannot be read.
 */
export function referencePlan(sequences: readonly PlanInput[], embeddingNorm: ((id: number) => number) | string, options: ReferenceOptions): ReferencePlan {
  const classes = tokenClasses(sequences, typeof embeddingNorm === 'string' ? undefined : embeddingNorm);
  const widths = new Set<number>();
  sequences.forEach((s, k) => {
    if (!s.legal) return;
    for (const w of s.targetWidths) if (w > 0) widths.add(w);
    for (const word of classes[k]!.words) widths.add(word.tokens.length);
  });
  const sorted = [...widths].sort((a, b) => a - b);
  return {
    features: CLASS_FEATURES.filter((f) => f !== 'embeddingNorm' || typeof embeddingNorm !== 'string'),
    ...(typeof embeddingNorm === 'string' ? { embeddingUnread: embeddingNorm } : {}),
    ...options,
    sequences: sequences.map((s, k) => ({
      classes: classes[k]!,
      spans: s.legal ? referenceSpans(s.ids.length, new Set(s.annotated), classes[k]!.words, sorted, k, options) : [],
    })),
  };
}
