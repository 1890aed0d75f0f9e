import path from 'node:path';
import { writeJson } from '../io/atomic.js';
import { writeNpy, type Float32Tensor } from '../io/npy.js';
import type { PlannedSequence } from '../plan/planned-sequence.js';
import { tokensFile, type TokensIdentity } from './tokens-file.js';

/** Per-head maps; or head-averaged maps of some layers, pooled into cells of `cellTokens` tokens a side for long texts; or none. */
export type SequenceMaps = { full: Float32Tensor } | { mean: Float32Tensor; layers?: number[]; cellTokens?: number } | Record<string, never>;

/** What tokens.json says of the maps beside it, and the map file to write, if any. */
function mapsFile(maps: SequenceMaps): { attentions?: TokensIdentity['attentions']; file?: { name: string; tensor: Float32Tensor } } {
  if ('full' in maps) return { attentions: { file: 'attentions.npy', shape: maps.full.dims, axes: ['layer', 'head', 'query', 'key'] }, file: { name: 'attentions.npy', tensor: maps.full } };
  if (!('mean' in maps)) return {};
  const axes = maps.cellTokens ? ['layer', 'query cell', 'key cell'] : ['layer', 'query', 'key'];
  const attentions = { file: 'attentions-mean.npy', shape: maps.mean.dims, axes, ...(maps.layers ? { layers: maps.layers } : {}), ...(maps.cellTokens ? { cellTokens: maps.cellTokens } : {}) };
  return { attentions, file: { name: 'attentions-mean.npy', tensor: maps.mean } };
}

/** A sequence's `tokens.json` and the maps asked for, into its folder. */
export async function writeSequence(folder: string, planned: PlannedSequence, maps: SequenceMaps): Promise<void> {
  const { attentions, file } = mapsFile(maps);
  const identity: TokensIdentity = {
    ...(planned.concept ? { concept: planned.concept.id, ...(planned.sequenceId ? { sequence: planned.sequenceId } : {}), ...(planned.paraphraseOf ? { paraphraseOf: planned.paraphraseOf } : {}) } : {}),
    ...(attentions ? { attentions } : {}),
  };
  const tokens = tokensFile(planned.aligned, identity);
  if (file) await writeNpy(path.join(folder, file.name), file.tensor);
  await writeJson(path.join(folder, 'tokens.json'), tokens);
}
