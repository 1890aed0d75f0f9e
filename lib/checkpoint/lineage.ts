import { badInput } from '../errors.js';
import { openCheckpoint, type Checkpoint } from './checkpoint.js';

/** A checkpoint under the name the user gave it. */
export interface NamedCheckpoint {
  name: string;
  checkpoint: Checkpoint;
}

/** Models of one comparison must have the same attention layout: as many layers, as many heads. */
export function checkSameLayout(checkpoints: readonly NamedCheckpoint[]): void {
  const [first, ...others] = checkpoints;
  if (!first) return;
  for (const other of others) {
    const layersA = first.checkpoint.graph.attention.length;
    const layersB = other.checkpoint.graph.attention.length;
    if (layersA !== layersB) {
      throw badInput(`models ${first.name} and ${other.name} differ in layers (${layersA} and ${layersB}); compare needs checkpoints of one lineage with the same shape.`);
    }
    const headsA = first.checkpoint.shape.heads;
    const headsB = other.checkpoint.shape.heads;
    if (headsA !== undefined && headsB !== undefined && headsA !== headsB) {
      throw badInput(`models ${first.name} and ${other.name} differ in attention heads (${headsA} and ${headsB}); compare needs checkpoints of one lineage with the same shape.`);
    }
  }
}

/** Opens each checkpoint of a lineage under its name; the same weights twice would compare to zero everywhere. */
export async function openLineage(models: ReadonlyArray<{ name: string; dir: string }>, cacheDir?: string): Promise<NamedCheckpoint[]> {
  const checkpoints: NamedCheckpoint[] = [];
  for (const model of models) {
    const checkpoint = await openCheckpoint(model.dir, cacheDir === undefined ? {} : { cacheDir });
    const twin = checkpoints.find((c) => c.checkpoint.contentHash === checkpoint.contentHash && c.checkpoint.tokenizerHash === checkpoint.tokenizerHash);
    if (twin) {
      throw badInput(`--model ${model.name} and --model ${twin.name} are the same weights (${checkpoint.dir === twin.checkpoint.dir ? 'one folder' : 'identical files'}, content hash ${checkpoint.contentHash.slice(0, 12)}): every change between them is 0; compare different checkpoints.`);
    }
    checkpoints.push({ name: model.name, checkpoint });
  }
  return checkpoints;
}
