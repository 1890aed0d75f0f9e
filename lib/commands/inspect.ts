import { openCheckpoint, type Checkpoint } from '../checkpoint/checkpoint.js';
import { cpuWeightBytes, fullMapBytes } from '../checkpoint/fit.js';
import { openAttentionSession } from '../runtime/session.js';
import { residualStreamOf } from '../runtime/states-session.js';

export interface InspectReport {
  model: string;
  contentHash: string;
  producer: string;
  irVersion: number;
  opsets: Checkpoint['graph']['opsets'];
  nodes: number;
  inputs: Checkpoint['graph']['inputs'];
  outputs: string[];
  attentionSource: Checkpoint['graph']['attentionSource'];
  layers: Checkpoint['graph']['attention'];
  heads: number;
  kvHeads?: number;
  headSize?: number;
  maxPositions?: number;
  externalData: string[];
  /** Precision, quantization and weights layout of the export. */
  format: Checkpoint['graph']['format'];
  /** Bytes of the weights in memory on the CPU where some are bfloat16, which the CPU widens to float32. */
  widenedOnCpu?: { weightBytes: number };
  /** Memory of one full float32 attention map `[layers, heads, T, T]` at `length` tokens; `beyondModel` when the model takes fewer positions than that. */
  fullMap: { length: number; bytes: number; bytesPerLayer: number; beyondModel?: true };
  /** The residual states legal-attn reads for representations (the embeddings, then after each layer), or why it cannot. */
  residualStream: { states: string[] } | { unread: string };
  /** Whether W_O is read per head in every layer (the value-weighted lens), or the first layer's reason it is not. */
  valueWeighted: { layers: number } | { unread: string };
}

/** Heads from config.json, or, without one, from a two-token forward pass. */
async function countHeads(checkpoint: Checkpoint): Promise<number> {
  if (checkpoint.shape.heads !== undefined) return checkpoint.shape.heads;
  const session = await openAttentionSession(checkpoint);
  try {
    const [stack] = await session.run([BigInt64Array.of(1n, 1n)]);
    return stack?.dims[1] ?? 0;
  } finally {
    await session.release();
  }
}

/** What legal-attn finds in a checkpoint, without tracing any text. */
export async function inspectCheckpoint(dir: string, options: { length?: number; cacheDir?: string } = {}): Promise<InspectReport> {
  const checkpoint = await openCheckpoint(dir, options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir });
  const heads = await countHeads(checkpoint);
  const layers = checkpoint.graph.attention.length;
  const length = options.length ?? Math.min(checkpoint.shape.maxPositions ?? 4096, 4096);
  const stream = await residualStreamOf(checkpoint);
  const report: InspectReport = {
    model: checkpoint.dir,
    contentHash: checkpoint.contentHash,
    producer: checkpoint.graph.producer,
    irVersion: checkpoint.graph.irVersion,
    opsets: checkpoint.graph.opsets,
    nodes: checkpoint.graph.nodeCount,
    inputs: checkpoint.graph.inputs,
    outputs: checkpoint.graph.outputs,
    attentionSource: checkpoint.graph.attentionSource,
    layers: checkpoint.graph.attention,
    heads,
    externalData: checkpoint.graph.externalData,
    format: checkpoint.graph.format,
    fullMap: { length, bytes: fullMapBytes(layers, heads, length), bytesPerLayer: fullMapBytes(1, heads, length) },
    residualStream: typeof stream === 'string' ? { unread: stream } : { states: stream.states },
    valueWeighted: valueLensOf(checkpoint),
  };
  const { kvHeads, headSize, maxPositions } = checkpoint.shape;
  if (kvHeads !== undefined) report.kvHeads = kvHeads;
  if (headSize !== undefined) report.headSize = headSize;
  if (maxPositions !== undefined) report.maxPositions = maxPositions;
  if (maxPositions !== undefined && length > maxPositions) report.fullMap.beyondModel = true;
  if (checkpoint.graph.format.bfloat16Bytes > 0) report.widenedOnCpu = { weightBytes: cpuWeightBytes(checkpoint) };
  return report;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/** What kind of attention a layer has: decomposed (its own Softmax), the model's output, or a fused kernel and how it is read. */
export function attentionKind(site: InspectReport['layers'][number]): string {
  const f = site.fused;
  if (!f) return site.node ? 'decomposed' : 'output';
  const inputs = f.projection ? 'q/k/v projected inside' : f.key === '' ? 'packed q/k/v' : f.queryLayout === 'heads' ? 'separate q/k/v by head' : 'separate q/k/v';
  const parts = [inputs, f.rotary ? `rotary inside${f.rotary.interleaved ? ' (interleaved)' : ''}` : f.projection ? 'no rotary' : 'rotary outside'];
  if (f.op !== 'GroupQueryAttention') parts.push(f.causal ? 'causal' : 'not causal');
  if (f.window > 0) parts.push(`window ${f.window}`);
  if (f.softcap > 0) parts.push(`softcap ${f.softcap}`);
  if (f.keyPadding || f.realKeys) parts.push('padding by key');
  if (f.bias) parts.push('additive mask');
  if (f.allowed) parts.push('boolean mask');
  return `${f.projection ? 'com.microsoft Attention' : f.op} (${parts.join(', ')})`;
}

/** The human-readable form of an inspect report. */
export function formatInspectReport(report: InspectReport): string {
  const dims = (d: Array<number | string>): string => `[${d.join(', ')}]`;
  const lines = [
    `model          ${report.model}`,
    `content hash   ${report.contentHash}`,
    `producer       ${report.producer || 'unknown'}, IR version ${report.irVersion}, opset ${report.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}`,
    `nodes          ${report.nodes}`,
    `weights        ${report.format.weightsLayout}`,
    `precision      ${report.format.precision} weights; attention probabilities ${report.format.attention}`,
    `quantization   ${report.format.quantization}`,
    ...(report.widenedOnCpu ? [`bfloat16       widened to float32 on CPU, ${formatBytes(report.widenedOnCpu.weightBytes)} of weights in memory`] : []),
    `inputs         ${report.inputs.map((i) => `${i.name} ${i.type}${dims(i.dims)}`).join(', ')}`,
    `outputs        ${report.outputs.join(', ')}`,
    `attention      ${report.layers.length} layers × ${report.heads} heads, ${report.kvHeads ?? '?'} key/value heads, head size ${report.headSize ?? '?'}; ${
      {
        softmax: 'found by graph structure (Softmax between Q·K and ·V)',
        outputs: 'read from the attention outputs of the model',
        fused: 'fused kernels; P computed beside each from its queries, keys and mask rule',
      }[report.attentionSource]
    }`,
    `max positions  ${report.maxPositions === undefined ? 'unknown' : `${report.maxPositions} (the longest sequence the model takes)`}`,
    `residual       ${'states' in report.residualStream ? `${report.residualStream.states.length} states (the embeddings, then after each layer), found by graph structure` : `not readable (${report.residualStream.unread}); compare measures attention only`}`,
    `W_O            ${'layers' in report.valueWeighted ? `read per head in ${report.valueWeighted.layers} layers (value-weighted attention beside the share)` : `not read per head (${report.valueWeighted.unread}); compare leaves the value-weighted lens out`}`,
    `full map       ${formatBytes(report.fullMap.bytes)} for one sequence of ${report.fullMap.length} tokens (${formatBytes(report.fullMap.bytesPerLayer)} a layer)${
      report.fullMap.beyondModel ? `; but the model stops at ${report.maxPositions} positions, so no sequence of ${report.fullMap.length} tokens runs on it` : ''
    }`,
    '',
    'layer  label      kind  node → output',
    ...report.layers.map((site) => `${String(site.layer).padStart(5)}  ${site.label.padEnd(9)}  ${attentionKind(site)}  ${site.node || '(output)'} → ${site.output}`),
  ];
  return `${lines.join('\n')}\n`;
}

/** W_O read per head in every layer, or the reason of the first layer where it is not. */
function valueLensOf(checkpoint: Checkpoint): InspectReport['valueWeighted'] {
  const read = checkpoint.graph.valueProjections ?? [];
  const unread = read.find((p): p is { unread: string } => 'unread' in p);
  return unread ? { unread: unread.unread } : read.length > 0 ? { layers: read.length } : { unread: 'no attention layer found' };
}
