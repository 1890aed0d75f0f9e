import * as d3 from 'd3';
import { poolMap } from '../render/attention-map.js';
import { displayToken } from '../render/svg.js';
import { escapeHtml } from './html.js';
import { EXPLORER_SCRIPT } from './explorer-script.js';
import { mapKey, type KeptMaps, type MapKey } from './kept-maps.js';

/** Base64 characters of maps one page embeds at most: the page stays well under 1 MB. */
export const EXPLORER_BUDGET = 600_000;

/** The causal cells (col ≤ row) of a pooled map, row by row, as uint16 little-endian (1/65535 steps of attention), base64. */
export function quantizeMap(value: Float64Array, size: number): string {
  const bytes = Buffer.alloc(size * (size + 1));
  let k = 0;
  for (let r = 0; r < size; r++) {
    for (let c = 0; c <= r; c++, k += 2) bytes.writeUInt16LE(Math.round(Math.min(1, Math.max(0, value[r * size + c] || 0)) * 65535), k);
  }
  return bytes.toString('base64');
}

/** The maps in the order they are kept when not all fit: every layer's mean, the chosen layer's heads, then the other layers' heads. */
function byPriority(keys: readonly MapKey[], layer: number): MapKey[] {
  const rank = (k: MapKey): number => (k.head === 'mean' ? 0 : k.layer === layer ? 1 : 2);
  return [...keys].sort((a, b) => rank(a) - rank(b) || a.layer - b.layer || (a.head === 'mean' ? -1 : b.head === 'mean' ? 1 : a.head - b.head));
}

const ramp = (interpolate: (t: number) => string): string[] => Array.from({ length: 17 }, (_, k) => d3.color(interpolate(k / 16))!.formatHex());

/**
 * The concept page's interactive view: the kept maps of one sequence, embedded
 * (quantized, the causal half only) with a small script, no network: pick a layer, a
 * head and two models; the maps of both and their difference side by side; hover a
 * token or a cell to follow its row and column.
 */
export function explorerSection(kept: KeptMaps, models: readonly string[], pair: string, layer: number, sequence: string): string {
  const { tokens, spans } = kept;
  const concept = [...new Set(spans.flatMap((s) => s.tokens))];
  const maps: Record<string, string> = {};
  let bytes = 0;
  let size = 0;
  let block = 1;
  const included: MapKey[] = [];
  for (const key of byPriority(kept.keys, layer)) {
    const encoded = kept.maps.map((m) => {
      const pooled = poolMap({ map: m.get(mapKey(key))!, tokens, concept, ...(kept.cellTokens ? { cellTokens: kept.cellTokens } : {}) });
      ({ size, block } = pooled);
      return quantizeMap(pooled.value, pooled.size);
    });
    const cost = encoded.reduce((n, e) => n + e.length, 0);
    if (bytes + cost > EXPLORER_BUDGET) break;
    bytes += cost;
    included.push(key);
    encoded.forEach((e, k) => (maps[`${models[k]}/${mapKey(key)}`] = e));
  }
  if (included.length === 0) return '';
  const layers = [...new Set(included.map((k) => k.layer))].sort((a, b) => a - b);
  const heads = Object.fromEntries(layers.map((l) => [l, included.filter((k) => k.layer === l).map((k) => String(k.head))]));
  const left = kept.keys.length - included.length;
  const [after = models[0]!, before = models[1] ?? models[0]!] = pair.split(':');
  const data = {
    tokens: tokens.map(displayToken),
    concept,
    block,
    size,
    models,
    after,
    before,
    layer: layers.includes(layer) ? layer : layers.at(-1),
    layers,
    heads,
    maps,
    ramps: { attention: ramp(d3.interpolateViridis), difference: ramp((t) => d3.interpolatePuOr(1 - t)) },
  };
  // JSON inside a script element: `<` escaped, so no token can close it.
  const json = JSON.stringify(data).replace(/</g, '\\u003c');
  const kind = kept.keys.every((k) => k.head === 'mean') ? `compare kept the head-averaged maps of layer${layers.length > 1 ? 's' : ''} ${layers.join(', ')} (run compare --maps full for every head, or --map-layers for more layers)` : 'every layer and head compare kept';
  return `<h2 id="explore">Explore the maps of “${escapeHtml(sequence)}”</h2>
<p class="muted">Pick a layer, a head and two models: their attention maps and the difference side by side. Hover a token (or a cell) to follow its row (as query) and column (as key). ${escapeHtml(kind)}${left > 0 ? `; ${left} maps left out to keep the page light` : ''}. Colours: attention on a log scale, 10⁻⁴ to 1; the difference on a linear scale over every key but the sink column.</p>
<div id="explorer" class="explorer"><div class="controls">
<label>layer <select class="pick-layer"></select></label>
<label>head <select class="pick-head"></select></label>
<label>model <select class="pick-after"></select></label>
<label>against <select class="pick-before"></select></label>
</div>
<div class="tokens"></div>
<div class="readout muted">hover a token or a cell</div>
<div class="panels"></div>
<script type="application/json" class="explorer-data">${json}</script>
</div>
<script>${EXPLORER_SCRIPT}</script>`;
}
