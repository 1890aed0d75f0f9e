import path from 'node:path';
import type { Concept } from '../concepts/concept.js';
import { loadConcepts } from '../concepts/load-concepts.js';
import { badInput } from '../errors.js';
import { checkFullMapsFit, checkKnockoutLayers, checkLengthFits, mapLayersOf } from '../checkpoint/fit.js';
import { checkSameLayout, openLineage, type NamedCheckpoint } from '../checkpoint/lineage.js';
import { lineageChatTemplate } from '../tokenize/chat-template.js';
import { checkReadsAlike } from '../tokenize/tokenizer.js';
import type { MapsMode } from '../measure/maps-mode.js';
import type { ReferencePlan } from '../reference/reference-plan.js';
import { checkDevice } from '../runtime/session.js';
import { checkKnockoutSupported } from '../runtime/knockout-session.js';
import { checkKnockoutFits } from '../runtime/knockout-memory.js';
import type { ModelPair } from '../options/pairs.js';
import { optionValue } from '../options/option-table.js';
import { resolveAnalysis, resolvePairs, type ResolvedAnalysis } from '../options/analysis-options.js';
import type { CompareRequest, NamedModel } from '../options/run-options.js';
import { longestSequence, planConceptSequences, type PlannedSequence } from './planned-sequence.js';
import { planReferences } from './plan-references.js';

const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

function checkModelNames(models: readonly NamedModel[]): void {
  if (models.length < 2) throw badInput(`compare needs at least two models (--model NAME=DIR, given ${models.length}); name each checkpoint, for example --model base=DIR --model cpt=DIR.`);
  const seen = new Set<string>();
  for (const { name } of models) {
    if (!MODEL_NAME.test(name)) throw badInput(`--model: "${name}" is not a usable model name; use letters, digits, dots, dashes or underscores.`);
    if (seen.has(name)) throw badInput(`--model: the name ${name} is given twice; give each checkpoint its own name.`);
    seen.add(name);
  }
}

/**
 * The resolved plan of a compare: every input checked and every option resolved, the
 * sequences tokenized once (the models share one tokenizer, which is checked). Runners
 * take only this; nothing is loaded yet.
 */
export interface PreparedCompare {
  request: CompareRequest;
  /** The folder whose chat template wraps every model's input (the last model that has one). */
  chatTemplateFrom?: string;
  concepts: Concept[];
  checkpoints: NamedCheckpoint[];
  pairs: ModelPair[];
  analysis: ResolvedAnalysis;
  maps: MapsMode;
  /** Layers whose head-averaged maps are kept (in-graph measuring). */
  mapLayers: number[];
  /** Every sequence of the concepts, tokenized and aligned, in concept-file order, with the spans it is judged against. */
  planned: PlannedSequence[];
  /** What every target is judged against: control runs of its class and negative-control words. */
  references: ReferencePlan;
}

/** Bytes one knockout run may take: --max-memory-gb, as for attention in the measuring passes. */
export const knockoutBudget = (request: CompareRequest): number => request.maxMemoryBytes ?? optionValue<number>('maxMemoryGb', undefined) * 1024 ** 3;

/** Checks everything a compare needs (names, pairs, options, concepts, checkpoints, tokenizers) before any model runs. */
export async function prepareCompare(request: CompareRequest): Promise<PreparedCompare> {
  checkModelNames(request.models);
  const names = request.models.map((m) => m.name);
  const pairs = resolvePairs(request.pairs, names);
  const analysis = resolveAnalysis(request);
  if (request.device) checkDevice(request.device);
  if (request.knockoutControls !== undefined) optionValue('knockoutControls', request.knockoutControls);
  // One template for the whole lineage, so every model reads the same input: the instruct model's.
  const chatTemplateFrom = request.chatTemplate ? await lineageChatTemplate(request.models.map((m) => path.resolve(m.dir))) : undefined;
  const concepts = await loadConcepts(request.concepts);
  const checkpoints = await openLineage(request.models, request.cacheDir);
  checkSameLayout(checkpoints);
  if (request.chatTemplate && !chatTemplateFrom) throw badInput('--chat-template: none of the models has a chat_template in its tokenizer_config.json; drop --chat-template.');
  const maps = request.maps ?? 'mean';
  const mapLayers = maps === 'mean' ? mapLayersOf(checkpoints[0]?.checkpoint, request.mapLayers) : [];
  const template = { chatTemplate: request.chatTemplate ?? false, ...(chatTemplateFrom ? { chatTemplateFrom } : {}) };
  const [first, ...others] = checkpoints;
  // One tokenization for every model, by the first model's tokenizer; the others must read the texts alike.
  const planned = await planConceptSequences(first!.checkpoint, concepts, template);
  for (const other of others) await checkReadsAlike({ name: first!.name, dir: first!.checkpoint.dir }, { name: other.name, dir: other.checkpoint.dir }, planned.map((p) => p.aligned), template);
  const references = await planReferences(planned, first!.checkpoint, analysis.references);
  for (const { checkpoint } of others) for (const p of planned) checkLengthFits(checkpoint, p.aligned.ids.length, p.dir);
  if (maps === 'full') for (const { checkpoint } of checkpoints) checkFullMapsFit(checkpoint, longestSequence(planned), request.maxMapBytes);
  if (request.knockout) {
    const knockedOut = planned.filter((p) => !p.paraphraseOf).map((p) => ({ dir: p.dir, length: p.aligned.ids.length }));
    for (const { name, checkpoint } of checkpoints) {
      checkKnockoutSupported(checkpoint);
      checkKnockoutLayers(name, checkpoint, request.knockoutLayers);
      checkKnockoutFits(checkpoint, knockedOut, knockoutBudget(request));
    }
  }
  return { request, concepts, checkpoints, pairs, analysis, maps, mapLayers, planned, references, ...(chatTemplateFrom ? { chatTemplateFrom } : {}) };
}
