import { targetsOf } from '../measure/measure-sequence.js';
import { referencePlan, type PlanInput, type ReferencePlan } from '../reference/reference-plan.js';
import type { ReferenceOptions } from '../reference/reference-spans.js';
import { conceptTokens, SPAN_RULES } from '../tokenize/align-spans.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { embeddingRowNorms } from '../checkpoint/embedding-norms.js';
import type { PlannedSequence } from './planned-sequence.js';

/** What the reference plan reads of each planned sequence: its tokens, annotated tokens and target widths. */
const planInputs = (planned: readonly PlannedSequence[]): PlanInput[] =>
  planned.map((p) => ({
    ...p.aligned,
    annotated: conceptTokens(p.aligned.spans),
    targetWidths: targetsOf(p.aligned.spans, SPAN_RULES).map((t) => t.tokens.length),
    legal: p.paraphraseOf === undefined,
  }));

/**
 * The run's reference plan, from the first model's tokens and embedding table: the
 * widths of every target (the concept under each span rule, each component) decide the
 * widths of the control runs. Each planned sequence gets its reference spans.
 */
export async function planReferences(planned: PlannedSequence[], checkpoint: Checkpoint, options: ReferenceOptions): Promise<ReferencePlan> {
  const ids = [...new Set(planned.flatMap((p) => Array.from(p.aligned.ids, Number)))];
  const norms = await embeddingRowNorms(checkpoint.graphFile, ids);
  const normOf = typeof norms === 'string' ? norms : ((byId: Map<number, number>) => (id: number) => byId.get(id) ?? Number.NaN)(new Map(ids.map((id, k) => [id, norms[k]!])));
  const plan = referencePlan(planInputs(planned), normOf, options);
  planned.forEach((p, k) => (p.references = plan.sequences[k]!.spans));
  return plan;
}

/** A target of a sequence of legal wording that no control run of the run has its width for. */
export interface UncontrolledTarget {
  sequence: PlannedSequence;
  target: string;
  width: number;
}

/**
 * The targets no control run can be matched to: every sequence of the run, with its
 * annotated tokens and the sink left out, has no run of consecutive free tokens that
 * wide. Compare leaves such a sequence out of the target's control share and lift.
 */
export function uncontrolledTargets(planned: readonly PlannedSequence[]): UncontrolledTarget[] {
  // which runs exist does not depend on the sample size, the seed or the embedding
  const plan = referencePlan(planInputs(planned), 'not read', { controlsPerWidth: 1, seed: 0 });
  const widths = new Set(plan.sequences.flatMap((s) => s.spans.flatMap((span) => (span.kind === 'control' ? [span.tokens.length] : []))));
  return planned.flatMap((sequence) =>
    sequence.paraphraseOf !== undefined
      ? []
      : targetsOf(sequence.aligned.spans, SPAN_RULES).flatMap((t) => (t.tokens.length > 0 && !widths.has(t.tokens.length) ? [{ sequence, target: t.name, width: t.tokens.length }] : [])),
  );
}
