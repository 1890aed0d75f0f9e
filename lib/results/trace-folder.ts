import path from 'node:path';
import { writeJson } from '../io/atomic.js';
import { writeNpy, type Float32Tensor } from '../io/npy.js';
import type { PlannedSequence } from '../plan/planned-sequence.js';
import { tokensFile, type TokensIdentity } from './tokens-file.js';

/** Per-head maps; or head-averaged maps of some layers, pooled into cells of `cellTokens` tokens a side for long texts; or none. */
export type SequenceMaps = { full: Float32Tensor } | { mean: Float32Tensor; layers?: number[]; cellTokens?: number } | Record<string, never>;

/** A sequence's `tokens.json` and the maps asked for, into its folder. */
export async function writeSequence(folder: string, planned: PlannedSequence, maps: SequenceMaps): Promise<void> {
  const identity: TokensIdentity = planned.concept ? { concept: planned.concept.id, ...(planned.sequenceId ? { sequence: planned.sequenceId } : {}), ...(planned.paraphraseOf ? { paraphraseOf: planned.paraphraseOf } : {}) } : {};
  if ('full' in maps) {
    await writeNpy(path.join(folder, 'attentions.npy'), maps.full);
    identity.attentions = { file: 'attentions.npy', shape: maps.full.dims, axes: ['layer', 'head', 'query', 'key'] };
  } else if ('mean' in maps) {
    await writeNpy(path.join(folder, 'attentions-mean.npy'), maps.mean);
    const axes = maps.cellTokens ? ['layer', 'query cell', 'key cell'] : ['layer', 'query', 'key'];
    identity.attentions = { file: 'attentions-mean.npy', shape: maps.mean.dims, axes, ...(maps.layers ? { layers: maps.layers } : {}), ...(maps.cellTokens ? { cellTokens: maps.cellTokens } : {}) };
  }
  await writeJson(path.join(folder, 'tokens.json'), tokensFile(planned.aligned, identity));
}

