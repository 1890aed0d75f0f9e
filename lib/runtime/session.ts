import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { badInput, runtimeFailure } from '../errors.js';
import type { Float32Tensor } from '../io/npy.js';
import { keyCellMatrix, mapCells, poolQueryRows } from '../measure/map-cells.js';
import { type Checkpoint } from '../checkpoint/checkpoint.js';
import { checkWidenedWeightsFit } from '../checkpoint/fit.js';
import { buildFeeds, padBatch, widenedInputs, type PaddedBatch } from './feeds.js';
import { SPAN_POOL_INPUT, stateOutput } from '../rewrite/reductions/pooled-states.js';
import { columnSumsOutput, entropyOutput, KEY_SETS_INPUT, MAP_CELLS_INPUT, massOutput, meanOutput, QUERIES_INPUT, reduceAttentionInGraph, ROLLOUT_INPUT, rolloutOutput, valueMassOutput, valueNormsOutput } from '../rewrite/reduce-graph.js';
import { attentionGraph, attentionOutputName, rewrittenGraph } from '../rewrite/attention-graph.js';
import { planIdentity, type ReducedAttention, type ReductionInputs, type ReductionPlan } from '../rewrite/reduction-plan.js';
import { widenBfloat16 } from '../rewrite/widen-bfloat16.js';

export type Device = 'cpu' | 'cuda';
export const DEVICES: readonly Device[] = ['cpu', 'cuda'];

export interface SessionOptions {
  threads?: number;
  device?: Device;
  /** Memory the weights may take on the CPU, where bfloat16 ones are widened to float32 (default: this machine's memory). */
  weightBudgetBytes?: number;
}

/** A loaded checkpoint that returns per-layer attention for a batch of token id sequences. */
export interface AttentionSession {
  /** For each sequence: `[layers, heads, T, T]` probabilities, padding cut away. */
  run(sequences: readonly BigInt64Array[]): Promise<Float32Tensor[]>;
  release(): Promise<void>;
}

const firstLine = (error: unknown): string => String(error instanceof Error ? error.message : error).split('\n')[0] ?? '';

const require = createRequire(import.meta.url);

/**
 * Where onnxruntime-node keeps its native libraries: the CUDA execution provider is a
 * separate library there, present only when the package's install script fetched it (`CUDA_INSTALL_COMMAND`; the npm registry does not carry it).
 */
function cudaProviderLibrary(): string {
  const binding = path.dirname(require.resolve('onnxruntime-node'));
  return path.join(binding, '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so');
}

/**
 * How to fetch the CUDA provider, as the README says it: the package's own install
 * script, run directly, so that the project's `.npmrc` (`ignore-scripts=true`) does not
 * skip it as it skips `npm install --onnxruntime-node-install=cuda12`.
 */
export const CUDA_INSTALL_COMMAND = 'ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js';

/** Refuses a device this installation cannot run, in one sentence that says how to get it. */
export function checkDevice(device: Device): void {
  if (device === 'cpu') return;
  const backend = ort.listSupportedBackends().find((b) => b.name === device);
  if (!backend) throw badInput(`--device ${device}: this onnxruntime-node (${ort.env.versions.common}) has no ${device} execution provider; use --device cpu.`);
  if (!backend.bundled && !existsSync(cudaProviderLibrary())) {
    throw badInput(
      `--device cuda: onnxruntime-node was installed without its CUDA libraries (no ${path.basename(cudaProviderLibrary())}); on a machine with CUDA 12 and cuDNN 9, run \`${CUDA_INSTALL_COMMAND}\` in the folder whose node_modules holds onnxruntime-node, or use --device cpu.`,
    );
  }
}

// onnxruntime's warnings ("Removing initializer …" of every patched graph) tell a user nothing to act on: errors only, unless onnxruntimeWarnings().
let severity: 2 | 3 = 3;
ort.env.logLevel = 'error';

/** Lets onnxruntime print its warnings (the CLI's --debug); before the first session, which fixes the process's level. */
export function onnxruntimeWarnings(): void {
  severity = 2;
  ort.env.logLevel = 'warning';
}

// Sessions on a graph widened from bfloat16 to float32, whose bfloat16 inputs are fed float32.
const widened = new WeakSet<ort.InferenceSession>();

/**
 * One onnxruntime session on a graph whose weights stay in the checkpoint's own folder;
 * on the CPU, bfloat16 weights are widened to float32 as the session is created.
 */
export async function createSession(graph: Uint8Array, checkpoint: Checkpoint, options: SessionOptions, what: string): Promise<ort.InferenceSession> {
  const device = options.device ?? 'cpu';
  checkDevice(device);
  // onnxruntime's CPU provider has no bfloat16 kernels for most operators (MatMul, Add, Where): widened to float32
  const widen = device === 'cpu' && checkpoint.graph.format.bfloat16Bytes > 0;
  if (widen) checkWidenedWeightsFit(checkpoint, options.weightBudgetBytes);
  const model = widen ? widenBfloat16(graph, checkpoint.graphFile) : graph;
  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: [device],
    graphOptimizationLevel: 'all',
    logSeverityLevel: severity,
    // The patched graph is handed over as bytes; this lets onnxruntime read the
    // weights from the checkpoint's own folder by their relative location.
    extra: { session: { model_external_initializers_file_folder_path: checkpoint.dir } },
  };
  if (options.threads) sessionOptions.intraOpNumThreads = options.threads;
  try {
    const session = await ort.InferenceSession.create(model, sessionOptions);
    if (widen) widened.add(session);
    return session;
  } catch (error) {
    throw runtimeFailure(`${checkpoint.graphFile}: onnxruntime could not load ${what} on ${device} (${firstLine(error)}).`, error);
  }
}

/** One forward pass over a right-padded batch: the model's own inputs, any extra ones, the outputs asked for. */
export async function forward(session: ort.InferenceSession, checkpoint: Checkpoint, padded: PaddedBatch, extra: Record<string, ort.Tensor>, fetches: string[]): Promise<ort.InferenceSession.ReturnType> {
  const feeds: Record<string, ort.Tensor> = { ...extra };
  const inputs = widened.has(session) ? widenedInputs(checkpoint.graph.inputs) : checkpoint.graph.inputs;
  for (const [name, feed] of Object.entries(buildFeeds(inputs, padded, checkpoint.graphFile, checkpoint.inputNames))) {
    feeds[name] = new ort.Tensor(feed.type as ort.Tensor.Type, feed.data, feed.dims);
  }
  try {
    return await session.run(feeds, fetches);
  } catch (error) {
    throw runtimeFailure(`${checkpoint.graphFile}: the forward pass failed (${firstLine(error)}).`, error);
  }
}

/**
 * Copies sequence b's part of a padded output `[batch, blocks, rows, width]` into
 * `target` at `at` as `[blocks, keptRows, keptWidth]`: padding cut from the rows and,
 * for maps over the keys, from the width.
 */
function unpad(source: Float32Array, b: number, blocks: number, rows: [padded: number, kept: number], width: [padded: number, kept: number], target: Float32Array, at: number): void {
  const [P, T] = rows;
  const [W, w] = width;
  for (let k = 0; k < blocks; k++) {
    const from = (b * blocks + k) * P * W;
    const to = at + k * T * w;
    if (W === w) target.set(source.subarray(from, from + T * W), to);
    else for (let i = 0; i < T; i++) target.set(source.subarray(from + i * W, from + i * W + w), to + i * w);
  }
}

/**
 * Runs the batch in one pass, or each sequence in a pass of its own where the graph
 * quantizes activations with scales taken over the whole pass (dynamic quantization):
 * there a sequence's attention would depend on what else is in its batch.
 */
export async function inPassesOfTheirOwn<I, R>(checkpoint: Checkpoint, sequences: readonly BigInt64Array[], inputs: readonly I[], run: (s: readonly BigInt64Array[], i: readonly I[]) => Promise<R[]>): Promise<R[]> {
  if (!checkpoint.graph.format.activationScalesPerPass || sequences.length < 2) return run(sequences, inputs);
  const results: R[] = [];
  for (let k = 0; k < sequences.length; k++) results.push(...(await run(sequences.slice(k, k + 1), inputs.slice(k, k + 1))));
  return results;
}

/**
 * The span-pool input `[batch, S, P]` of a padded batch: each sequence's `[S, T]` rows
 * (one S for the whole call: callers pad with zero rows), zero over the padding.
 */
export function spanPoolFeed(pools: readonly Float32Array[], padded: PaddedBatch): { tensor: ort.Tensor; rows: number } {
  const { batch, length: P, lengths } = padded;
  const S = (pools[0]?.length ?? 0) / (lengths[0] || 1);
  const pool = new Float32Array(batch * S * P);
  pools.forEach((rows, b) => {
    const T = lengths[b]!;
    for (let r = 0; r < S; r++) pool.set(rows.subarray(r * T, (r + 1) * T), (b * S + r) * P);
  });
  return { tensor: new ort.Tensor('float32', pool, [batch, S, P]), rows: S };
}

/** Sequence b's pooled states `[states, S, hidden]` from the per-state outputs `[batch, S, hidden]`. */
export function statesOfSequence(outputs: ort.InferenceSession.ReturnType, names: readonly string[], b: number, S: number): Float32Tensor {
  const hidden = outputs[names[0]!]?.dims[2] ?? 0;
  const states = new Float32Array(names.length * S * hidden);
  names.forEach((name, l) => {
    const tensor = outputs[name];
    if (!(tensor?.data instanceof Float32Array)) throw runtimeFailure(`pooled state ${name} is not a float32 tensor (${tensor?.type}).`);
    states.set(tensor.data.subarray(b * S * hidden, (b + 1) * S * hidden), l * S * hidden);
  });
  return { data: states, dims: [names.length, S, hidden] };
}

/** The one place legal-attn talks to onnxruntime. */
export async function openAttentionSession(checkpoint: Checkpoint, options: SessionOptions = {}): Promise<AttentionSession> {
  const session = await createSession(await attentionGraph(checkpoint), checkpoint, options, 'the model');
  const sites = checkpoint.graph.attention;
  const padId = 0n;

  const runPass = async (sequences: readonly BigInt64Array[]): Promise<Float32Tensor[]> => {
    const padded = padBatch(sequences, padId);
    const names = sites.map(attentionOutputName);
    const outputs = await forward(session, checkpoint, padded, {}, names);
    const layers = sites.length;
    const first = outputs[names[0] ?? ''];
    const heads = first?.dims[1] ?? 0;
    const stacks = padded.lengths.map((T) => ({ data: new Float32Array(layers * heads * T * T), dims: [layers, heads, T, T] }));
    const P = padded.length;
    names.forEach((name, l) => {
      const tensor = outputs[name];
      if (!tensor || !(tensor.data instanceof Float32Array) || tensor.dims.length !== 4 || tensor.dims[1] !== heads) {
        throw runtimeFailure(`${checkpoint.graphFile}: attention output ${name} is not a float32 [batch, heads, query, key] tensor (${tensor?.type} ${JSON.stringify(tensor?.dims)}).`);
      }
      const source = tensor.data;
      stacks.forEach((stack, b) => {
        const T = padded.lengths[b] ?? 0;
        unpad(source, b, heads, [P, T], [P, T], stack.data, l * heads * T * T);
      });
      tensor.dispose();
    });
    return stacks;
  };
  return {
    run: (sequences) => inPassesOfTheirOwn(checkpoint, sequences, [], (s) => runPass(s)),
    async release() {
      await session.release();
    },
  };
}

/** A session whose passes return the in-graph reductions of each sequence. */
export interface ReducedSession {
  /** Every sequence of one call must have the same K (and R). */
  run(sequences: readonly BigInt64Array[], inputs: readonly ReductionInputs[]): Promise<ReducedAttention[]>;
  release(): Promise<void>;
}

/**
 * A session on the checkpoint's graph with attention reduced inside it
 * (`reduce-graph.ts`): onnxruntime returns per-query masses on the key sets, column
 * sums, rollout, row entropies and the head-averaged maps asked for, never the
 * `[heads, T, T]` maps.
 */
export async function openReducedSession(checkpoint: Checkpoint, plan: ReductionPlan, options: SessionOptions = {}): Promise<ReducedSession> {
  if (checkpoint.graph.attentionSource === 'outputs') {
    throw badInput(`${checkpoint.graphFile}: the model outputs its attentions itself, so they cannot be reduced inside the graph; use --maps full.`);
  }
  // the graph's name is its plan's identity, so that no field of the plan can be left out of it
  const key = `reduced-${createHash('sha256').update(planIdentity(plan)).digest('hex').slice(0, 32)}.onnx`;
  const graph = await rewrittenGraph(checkpoint, key, (original) => reduceAttentionInGraph(original, checkpoint.graph.attention, plan));
  const session = await createSession(graph, checkpoint, options, 'the reduced graph');
  const layers = checkpoint.graph.attention.length;
  const perLayer = (name: (l: number) => string, on: boolean | undefined): string[] => (on ? Array.from({ length: layers }, (_, l) => name(l)) : []);
  const rolloutOn = plan.rolloutResidual !== undefined;
  const stateCount = plan.states?.states.length ?? 0;
  const stateNames = Array.from({ length: stateCount }, (_, l) => stateOutput(l));
  const valuesOn = plan.valueWeighted !== undefined;
  const fetches = [...perLayer(massOutput, true), ...perLayer(valueMassOutput, valuesOn), ...perLayer(valueNormsOutput, valuesOn), ...perLayer(columnSumsOutput, plan.columnSums !== undefined), ...perLayer(rolloutOutput, rolloutOn), ...perLayer(entropyOutput, plan.entropy), ...plan.meanLayers.map(meanOutput), ...stateNames];
  const runPass = async (sequences: readonly BigInt64Array[], inputs: readonly ReductionInputs[]): Promise<ReducedAttention[]> => {
    const padded = padBatch(sequences, 0n);
    const { batch, length: P } = padded;
    const K = (inputs[0]?.keySets.length ?? 0) / (sequences[0]?.length || 1);
    const R = rolloutOn ? (inputs[0]?.rollout?.length ?? 0) / (sequences[0]?.length || 1) : 0;
    const feeds: Record<string, ort.Tensor> = {};
    const keySets = new Float32Array(batch * P * K);
    inputs.forEach((input, b) => keySets.set(input.keySets, b * P * K));
    feeds[KEY_SETS_INPUT] = new ort.Tensor('float32', keySets, [batch, P, K]);
    if (plan.columnSums === 'weighted') {
      const queries = new Float32Array(batch * P * 2);
      padded.lengths.forEach((T, b) => {
        for (let i = 0; i < T; i++) queries.set([1, i > 0 ? 1 : 0], (b * P + i) * 2);
      });
      feeds[QUERIES_INPUT] = new ort.Tensor('float32', queries, [batch, P, 2]);
    }
    if (rolloutOn) {
      const start = new Float32Array(batch * P * R);
      inputs.forEach((input, b) => start.set(input.rollout ?? new Float32Array(0), b * P * R));
      feeds[ROLLOUT_INPUT] = new ort.Tensor('float32', start, [batch, P, R]);
    }
    // Long texts' maps pooled into cells: each sequence's own cells, the batch as wide as its widest.
    const cells = plan.mapCells && plan.meanLayers.length > 0 ? padded.lengths.map((T) => mapCells(T, plan.mapCells)) : [];
    const C = Math.max(0, ...cells.map((c) => c.size));
    if (cells.length > 0) {
      const matrix = new Float32Array(batch * P * C);
      padded.lengths.forEach((T, b) => matrix.set(keyCellMatrix(T, cells[b]!, P, C), b * P * C));
      feeds[MAP_CELLS_INPUT] = new ort.Tensor('float32', matrix, [batch, P, C]);
    }
    const pools = stateCount > 0 ? spanPoolFeed(inputs.map((input) => input.pool!), padded) : undefined;
    if (pools) feeds[SPAN_POOL_INPUT] = pools.tensor;
    const outputs = await forward(session, checkpoint, padded, feeds, fetches);
    const data = (name: string): Float32Array => outputs[name]!.data as Float32Array;
    const heads = outputs[massOutput(0)]?.dims[1] ?? 0;
    const results = padded.lengths.map((T, b) => {
      const mass = new Float32Array(layers * heads * T * K);
      const rows = plan.columnSums === 'weighted' ? (valuesOn ? 3 : 2) : 1;
      const valueMass = valuesOn ? new Float32Array(layers * heads * T * K) : undefined;
      const valueNorms = valuesOn ? new Float32Array(layers * heads * T) : undefined;
      const columnSums = plan.columnSums ? new Float32Array(layers * heads * rows * T) : undefined;
      const rollout = rolloutOn ? new Float32Array(layers * T * R) : undefined;
      const entropy = plan.entropy ? new Float32Array(layers * heads * T) : undefined;
      for (let l = 0; l < layers; l++) {
        unpad(data(massOutput(l)), b, heads, [P, T], [K, K], mass, l * heads * T * K);
        if (valueMass) unpad(data(valueMassOutput(l)), b, heads, [P, T], [K, K], valueMass, l * heads * T * K);
        if (valueNorms) unpad(data(valueNormsOutput(l)), b, heads, [P, T], [1, 1], valueNorms, l * heads * T);
        if (entropy) unpad(data(entropyOutput(l)), b, heads, [P, T], [1, 1], entropy, l * heads * T);
        if (rollout) unpad(data(rolloutOutput(l)), b, 1, [P, T], [R, R], rollout, l * T * R);
        // [batch, heads, rows, P]: one row of keys per block, cut to the sequence's T keys.
        if (columnSums) unpad(data(columnSumsOutput(l)), b, heads * rows, [1, 1], [P, T], columnSums, l * heads * rows * T);
      }
      const means = new Map<number, Float32Tensor>();
      const cellsOfSequence = cells[b];
      for (const l of plan.meanLayers) {
        // [T, T], or each query row's sums over the cells of keys [T, C], its rows then pooled too
        const width = cellsOfSequence ? C : T;
        const rows = new Float32Array(T * width);
        unpad(data(meanOutput(l)), b, 1, [P, T], [cellsOfSequence ? C : P, width], rows, 0);
        const size = cellsOfSequence?.size ?? T;
        means.set(l, { data: cellsOfSequence ? poolQueryRows(rows, T, cellsOfSequence, C) : rows, dims: [size, size] });
      }
      const result: ReducedAttention = { mass: { data: mass, dims: [layers, heads, T, K] }, means };
      if (columnSums) result.columnSums = { data: columnSums, dims: [layers, heads, rows, T] };
      if (valueMass) result.valueMass = { data: valueMass, dims: [layers, heads, T, K] };
      if (valueNorms) result.valueNorms = { data: valueNorms, dims: [layers, heads, T] };
      if (rollout) result.rollout = { data: rollout, dims: [layers, T, R] };
      if (entropy) result.entropy = { data: entropy, dims: [layers, heads, T] };
      if (pools) result.states = statesOfSequence(outputs, stateNames, b, pools.rows);
      return result;
    });
    for (const tensor of Object.values(outputs)) tensor.dispose();
    return results;
  };
  return {
    run: (sequences, inputs) => inPassesOfTheirOwn(checkpoint, sequences, inputs, runPass),
    async release() {
      await session.release();
    },
  };
}
