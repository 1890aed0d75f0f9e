import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileWhole } from '../io/atomic.js';
import { editGraph } from '../onnx/wire.js';
import type { Checkpoint } from '../checkpoint/checkpoint.js';
import { probabilityNodes } from './fused-probabilities.js';
import { type AttentionSite } from '../checkpoint/graph-analysis.js';
import { FLOAT, type NodeProto } from '../onnx/proto.js';

/** The cached full-map graph's name: bump its version whenever `attentionGraph` changes what it writes. */
export const ATTENTION_GRAPH = 'attention-v3.onnx';
// A rewritten graph whose weights are inline is as large as the model: rebuilt each time rather than cached.
const LARGEST_CACHED_GRAPH = 64 * 1024 * 1024;

/**
 * A rewrite of the checkpoint's graph (`build` edits the original bytes), cached under
 * the cache folder by content hash and `name`. With external data the rewrite holds the
 * graph only and still reads the weights from the checkpoint's own files, so a 15 GB
 * model costs a few MB of cache and is never copied or modified.
 */
export async function rewrittenGraph(checkpoint: Checkpoint, name: string, build: (original: Uint8Array) => Uint8Array): Promise<Uint8Array> {
  const cached = path.join(checkpoint.cacheDir, 'graphs', checkpoint.contentHash, name);
  const hit = await readFile(cached).catch(() => undefined);
  if (hit) return hit;
  const rewritten = build(await readFile(checkpoint.graphFile));
  if (rewritten.length <= LARGEST_CACHED_GRAPH) await writeFileWhole(cached, rewritten);
  return rewritten;
}

/** The graph output that carries layer l's probabilities as float32: the model's own, or a Cast of it. */
export const attentionOutputName = (site: AttentionSite): string => (site.type === 'float32' ? site.output : `legal_attn.probabilities_f32.${site.layer}`);

/**
 * The checkpoint's graph with every layer's attention probabilities as float32 outputs
 * (half-precision ones through a Cast placed right after their Softmax).
 */
export async function attentionGraph(checkpoint: Checkpoint): Promise<Uint8Array> {
  const { attention, attentionSource } = checkpoint.graph;
  if (attentionSource === 'outputs' && attention.every((site) => site.type === 'float32')) return readFile(checkpoint.graphFile);
  return rewrittenGraph(checkpoint, ATTENTION_GRAPH, (original) => {
    const after = new Map<number, NodeProto[]>();
    const place = (position: number, nodes: NodeProto[]): void => void after.set(position, [...(after.get(position) ?? []), ...nodes]);
    for (const site of attention) {
      if (site.fused) place(site.position, probabilityNodes(site.fused, site.layer, site.output));
      else if (site.type !== 'float32') {
        place(site.position, [{ opType: 'Cast', input: [site.output], output: [attentionOutputName(site)], name: `legal_attn/cast_${site.layer}`, attribute: [{ name: 'to', i: FLOAT, type: 2 }] }]);
      }
    }
    const outputs = attention.filter((site) => attentionSource !== 'outputs' || site.type !== 'float32').map((site) => ({ name: attentionOutputName(site) }));
    return editGraph(original, { after, outputs });
  });
}
