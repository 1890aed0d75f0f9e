import path from 'node:path';
import { readNpy } from '../io/npy.js';
import type { TokenSpan } from '../tokenize/align-spans.js';
import { readTokensFile } from '../results/tokens-file.js';

/** Which map: a layer, and a head or the mean over heads. */
export interface MapKey {
  layer: number;
  head: number | 'mean';
}

/** Every map compare kept of one sequence, per model: `maps[model].get("layer/head")`, T × T (or cells × cells where `cellTokens` is set). */
export interface KeptMaps {
  tokens: string[];
  spans: TokenSpan[];
  cellTokens?: number;
  keys: MapKey[];
  maps: Array<Map<string, Float32Array>>;
}

export const mapKey = (key: MapKey): string => `${key.layer}/${key.head}`;

/** The maps of one model's sequence folder: head-averaged of the layers kept (`--maps mean`), or every head and their mean (`--maps full`). */
async function modelMaps(folder: string): Promise<{ tokens: string[]; spans: TokenSpan[]; cellTokens?: number; maps: Map<string, Float32Array>; keys: MapKey[] } | undefined> {
  const record = await readTokensFile(path.join(folder, 'tokens.json'));
  const tokens = record.tokens ?? record.ids.map(String);
  if (!record.attentions) return undefined;
  const { data, dims } = await readNpy(path.join(folder, record.attentions.file));
  const maps = new Map<string, Float32Array>();
  const keys: MapKey[] = [];
  const kept = record.attentions.layers;
  if (kept) {
    const size = (dims[1] ?? 0) * (dims[2] ?? 0);
    kept.forEach((layer, k) => {
      keys.push({ layer, head: 'mean' });
      maps.set(mapKey({ layer, head: 'mean' }), data.slice(k * size, (k + 1) * size));
    });
  } else {
    const [layers = 0, heads = 0, T = 0] = dims;
    const size = T * T;
    for (let layer = 0; layer < layers; layer++) {
      const mean = new Float32Array(size);
      const perHead: Array<[MapKey, Float32Array]> = [];
      for (let head = 0; head < heads; head++) {
        const map = data.slice((layer * heads + head) * size, (layer * heads + head + 1) * size);
        for (let k = 0; k < size; k++) mean[k]! += map[k]! / heads;
        perHead.push([{ layer, head }, map]);
      }
      for (const [key, map] of [[{ layer, head: 'mean' as const }, mean] as [MapKey, Float32Array], ...perHead]) {
        keys.push(key);
        maps.set(mapKey(key), map);
      }
    }
  }
  return { tokens, spans: record.spans, ...(record.attentions.cellTokens ? { cellTokens: record.attentions.cellTokens } : {}), maps, keys };
}

/** The maps every model kept of one sequence (the keys all of them have), or none when a model kept none. */
export async function keptMaps(traceFolders: readonly string[], concept: string, sequence: string): Promise<KeptMaps | undefined> {
  const perModel = await Promise.all(traceFolders.map((folder) => modelMaps(path.join(folder, concept, sequence))));
  if (perModel.some((m) => m === undefined || m.cellTokens !== perModel[0]!.cellTokens)) return undefined;
  const models = perModel as Array<NonNullable<(typeof perModel)[number]>>;
  const first = models[0]!;
  const keys = first.keys.filter((key) => models.every((m) => m.maps.has(mapKey(key))));
  return { tokens: first.tokens, spans: first.spans, ...(first.cellTokens ? { cellTokens: first.cellTokens } : {}), keys, maps: models.map((m) => m.maps) };
}
