import type { onnx } from 'onnx-proto';
import { intAttribute } from '../onnx/build.js';
import { decodeModel } from '../onnx/model.js';
import { editGraph } from '../onnx/wire.js';
import { blockedLayer } from './reductions/blocked-layer.js';
import { blockedFusedLayer } from './reductions/blocked-fused-layer.js';
import { staticRank } from '../onnx/static-rank.js';
import { probabilityNodes } from './fused-probabilities.js';
import { affineScores, hasNegativeInfinity } from './reductions/affine-scores.js';
import { layerReductions } from './reductions/layer-reductions.js';
import { valueNormNodes } from './reductions/value-norms.js';
import { scheduleEarly, type ScheduledLayer } from './reductions/schedule.js';
import { LayerNodes, sharedTensors } from './reductions/shared.js';
import { pooledStateNodes, spanPoolInput, stateOutput } from './reductions/pooled-states.js';
import { elementTypes } from '../onnx/element-types.js';
import type { AttentionSite } from '../checkpoint/graph-analysis.js';
import type { ReductionPlan } from './reduction-plan.js';
import { type NodeProto, FLOAT } from '../onnx/proto.js';
import { inputsAtAnyDepth, unreadNodes } from './unread-nodes.js';

export { columnSumsOutput, entropyOutput, KEY_SETS_INPUT, MAP_CELLS_INPUT, massOutput, meanOutput, QUERIES_INPUT, ROLLOUT_INPUT, rolloutOutput, valueMassOutput, valueNormsOutput } from './reductions/shared.js';

/**
 * The checkpoint's graph with each layer's attention P `[batch, heads, T, T]` reduced
 * inside it, so that onnxruntime returns small tensors instead of the maps (one emitter
 * each, in `reductions/`): the masses on the key sets, column sums, rollout, entropy and
 * head means. Each reduction is placed right after its layer's Softmax, and
 * `scheduleEarly` makes onnxruntime run it before the next layer. The original file is
 * edited at the wire level (`onnx-wire.ts`): nothing of it is re-encoded.
 */
export function reduceAttentionInGraph(modelBytes: Uint8Array, sites: readonly AttentionSite[], plan: ReductionPlan): Uint8Array {
  const model = decodeModel(modelBytes);
  const graph = model.graph as onnx.GraphProto;
  const opset = Number(model.opsetImport?.find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 17);
  const shared = sharedTensors(plan, opset);
  const infiniteMasks = hasNegativeInfinity(graph);
  const producer = new Map<string, NodeProto>();
  for (const original of graph.node) for (const output of original.output ?? []) producer.set(output, original);
  const position = new Map(graph.node.map((n, k) => [n, k]));
  const reductions = new Map<number, NodeProto[]>();
  const scheduled: ScheduledLayer[] = [];
  const outputs: string[] = [];
  let rollout = shared.rolloutStart;

  const rankOf = staticRank(graph);
  const types = elementTypes(graph);
  const removed = new Set<number>();
  const blockedAfter = new Map<number, NodeProto[]>();
  sites.forEach((site, l) => {
    // The pooled state entering the layer: a blocked layer's loop waits for it, a whole layer's reductions run it early, so that the stream it pools is not kept to the end.
    const waitFor = plan.states ? [stateOutput(l)] : [];
    const blocked = plan.blockRows && !site.fused ? blockedLayer(graph, producer, rankOf, producer.get(site.output)!, site.product, shared, plan, l, rollout, infiniteMasks, waitFor, (t) => types.get(t)) : undefined;
    if (blocked) {
      blocked.removed.forEach((k) => removed.add(k));
      blockedAfter.set(blocked.after, blocked.nodes);
      outputs.push(...blocked.outputs);
      if (blocked.rollout) rollout = blocked.rollout;
      return;
    }
    // The next layer's query·key product (or its Softmax, where the product is unknown) is what gets fed; for a fused
    // kernel, the node that makes its queries: the kernel infers its output's width from the static shape of its query.
    const fedNode = (softmax: NodeProto): NodeProto => (site.fused ? (producer.get(site.fused.query) ?? graph.node[site.position]!) : ((site.product ? producer.get(site.product) : undefined) ?? softmax));
    const scheduleLayer = (layerOutputs: string[], fed: NodeProto): void => void scheduled.push({ outputs: [...layerOutputs, ...waitFor], fed: position.get(fed)!, fedInput: fed.input?.[0] ?? '' });
    if (plan.blockRows && site.fused) {
      // P a block of rows at a time beside the kernel, which stays
      const fused = blockedFusedLayer(graph, rankOf, site.fused, shared, { ...plan, blockRows: plan.blockRows }, l, rollout, infiniteMasks, waitFor, (t) => types.get(t));
      if (fused.rollout) rollout = fused.rollout;
      outputs.push(...fused.outputs);
      reductions.set(site.position, fused.nodes);
      scheduleLayer(fused.outputs, fedNode(graph.node[site.position]!));
      return;
    }
    // A fused kernel's P is computed beside it first; its Softmax then stands for the graph's own.
    const computed = site.fused ? probabilityNodes(site.fused, l, site.output) : [];
    const softmax = computed.find((n) => n.opType === 'Softmax') ?? producer.get(site.output)!;
    const nodes = new LayerNodes(shared, l);
    // Every reduction in float32, whatever the export's precision.
    const halfPrecision = site.type !== 'float32';
    const p = halfPrecision ? nodes.add('Cast', [site.output], nodes.name('probabilities_f32'), [intAttribute('to', FLOAT)]) : site.output;
    const affine = plan.entropy && !plan.readScores && !halfPrecision && !site.fused ? affineScores(graph, producer, softmax) : undefined;
    const projection = plan.valueWeighted?.[l];
    const valueNorms = projection ? valueNormNodes(nodes, projection, (t) => types.get(t), site.fused) : undefined;
    const reduced = layerReductions(nodes, plan, { p, scores: softmax.input![0]!, previousRollout: rollout, infiniteMasks, halfPrecision, ...(affine ? { affine } : {}), ...(valueNorms ? { valueNorms } : {}) });
    if (reduced.rollout) rollout = reduced.rollout;
    const layerOutputs = [reduced.mass, reduced.valueMass, valueNorms, reduced.columnSums, reduced.rollout, reduced.entropy, reduced.mean].filter((name): name is string => name !== undefined);
    outputs.push(...layerOutputs);
    // after the values too, wherever the export put them
    const valuesFrom = projection?.values ? producer.get(projection.values) : undefined;
    const valuesAt = valuesFrom ? (position.get(valuesFrom) ?? -1) : -1;
    reductions.set(Math.max(site.position, valuesAt), [...computed, ...nodes.nodes]);
    scheduleLayer(layerOutputs, fedNode(softmax));
  });

  // A blocked decomposed layer's loop gives the context the next layer reads, so it runs in order: only whole and fused layers are scheduled.
  const schedule = scheduleEarly(scheduled, shared.scalarZero);
  const after = new Map([...[...reductions].map(([k, nodes], l): [number, NodeProto[]] => [k, [...nodes, ...(schedule.after[l] ?? [])]]), ...blockedAfter]);
  if (plan.states) {
    // before the layer's own reductions: a whole layer's schedule sums its pooled state
    for (const [k, nodes] of pooledStateNodes(plan.states, (t) => types.get(t))) after.set(k, [...nodes, ...(after.get(k) ?? [])]);
    outputs.push(...plan.states.states.map((_, l) => stateOutput(l)));
  }
  const added = [...shared.prologue.nodes, ...after.values(), ...schedule.before.values()].flat();
  // Only the constants this plan uses, so that onnxruntime has none to prune.
  const used = new Set(added.flatMap(inputsAtAnyDepth));
  // What blocks leave unread (the export's whole [T, T] mask, made once per pass) leaves the graph with them.
  for (const k of unreadNodes(graph, removed, used, outputs)) removed.add(k);
  return editGraph(modelBytes, {
    removed,
    prologue: shared.prologue.nodes,
    before: schedule.before,
    after,
    renamedInputs: schedule.renamed,
    initializers: shared.constants.filter((c) => used.has(c.name ?? '')),
    inputs: plan.states ? [...shared.inputs, spanPoolInput()] : shared.inputs,
    outputs: outputs.map((name) => ({ name })),
  });
}
