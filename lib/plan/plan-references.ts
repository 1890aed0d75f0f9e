import { targetsOf } from '../measure/measure-sequence.js';
import { referencePlan, type ReferencePlan } from '../reference/reference-plan.js';
import type { ReferenceOptions } from '../reference/reference-spans.js';
import { conceptTokens, SPAN_RULES } from '../tokenize/align-spans.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { embeddingRowNorms } from '../checkpoint/embedding-norms.js';
import type { PlannedSequence } from './planned-sequence.js';

/**
 * The run's reference plan, from the first model's tokens and embedding table: the
 * widths of every target (the concept under each span rule, each component) decide the
 * widths of the control runs. Each planned sequence gets its reference spans.
 */
export async function planReferences(planned: PlannedSequence[], checkpoint: Checkpoint, options: ReferenceOptions): Promise<ReferencePlan> {
  const ids = [...new Set(planned.flatMap((p) => Array.from(p.aligned.ids, Number)))];
  const norms = await embeddingRowNorms(checkpoint.graphFile, ids);
  const normOf = typeof norms === 'string' ? norms : ((byId: Map<number, number>) => (id: number) => byId.get(id) ?? Number.NaN)(new Map(ids.map((id, k) => [id, norms[k]!])));
  const plan = referencePlan(
    planned.map((p) => ({
      ...p.aligned,
      annotated: conceptTokens(p.aligned.spans),
      targetWidths: targetsOf(p.aligned.spans, SPAN_RULES).map((t) => t.tokens.length),
      legal: p.paraphraseOf === undefined,
    })),
    normOf,
    options,
  );
  planned.forEach((p, k) => (p.references = plan.sequences[k]!.spans));
  return plan;
}
