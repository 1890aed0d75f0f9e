import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomLcg } from 'd3-random';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { badInput } from '../errors.js';
import { writeFolderWhole, writeJson } from '../io/atomic.js';
import { constantTensor, intAttribute, intsAttribute } from '../onnx/build.js';
import { PACKAGE_ROOT } from '../version.js';
import { tokenizerVocabSize } from '../tokenize/tokenizer.js';
import { FLOAT, INT64 } from '../onnx/proto.js';

const { onnx: schema } = onnxProto;

export type AttentionForm = 'decomposed' | 'gqa' | 'gqa-rotary-outside' | 'gqa-unpacked' | 'mha' | 'onnx-attention' | 'ms-attention';
export const ATTENTION_FORMS: readonly AttentionForm[] = ['decomposed', 'gqa', 'gqa-rotary-outside', 'gqa-unpacked', 'mha', 'onnx-attention', 'ms-attention'];
export type NormForm = 'decomposed' | 'fused';
export const NORM_FORMS: readonly NormForm[] = ['decomposed', 'fused'];

export interface SynthOptions {
  layers: number;
  heads: number;
  kvHeads: number;
  hidden: number;
  /** Embedding rows; by default the ids the tokenizer needs (4096 for the shipped one). */
  vocab?: number;
  /** A tokenizer.json to carry instead of the shipped tokenizer, so that a synthetic model reads as a real one does. */
  tokenizer?: string;
  intermediate?: number;
  maxPositions?: number;
  slidingWindow?: number;
  /** Scaled scores s ↦ softcap · tanh(s / softcap) before the mask, as Gemma 2 does (the decomposed and GroupQueryAttention forms). */
  softcap?: number;
  /** Rotary on adjacent channel pairs (x0, x1), (x2, x3), … as GPT-J does, instead of on the two halves. */
  rotaryInterleaved?: boolean;
  /** `rotary` (the default), or `none`: no position encoding at all, as com.microsoft Attention's projection inside the kernel leaves no place for one. */
  positions?: 'rotary' | 'none';
  /**
   * How attention is written: `decomposed` (MatMul → Softmax → MatMul, as PyTorch
   * exports it), or one com.microsoft GroupQueryAttention node per layer as
   * onnxruntime's model builder writes it (`gqa`: rotary inside the node, query, key and
   * value packed in one MatMul), or with rotary applied before it (`gqa-rotary-outside`),
   * or with separate query, key and value (`gqa-unpacked`); or one com.microsoft
   * MultiHeadAttention node per layer as onnxruntime's optimizer fuses it (`mha`: keys
   * and values repeated to every head, causal by `unidirectional`, padding by
   * `key_padding_mask`, the window by an additive `attention_bias`); or ONNX's own
   * `Attention` (opset 23) as PyTorch exports scaled_dot_product_attention (`onnx-attention`:
   * `[batch, heads, T, d]` inputs, fewer key heads, `is_causal`, padding and window by a
   * boolean `attn_mask`); or com.microsoft `Attention` as onnxruntime's optimizer fuses
   * GPT-2-like models (`ms-attention`: the input and packed q/k/v weights, with a bias,
   * projected inside the kernel; `positions: 'none'`). The same seed gives the same
   * weights in every form.
   */
  attention?: AttentionForm;
  /**
   * How RMSNorm and the residual additions are written: `decomposed` (Pow/ReduceMean/…
   * and Add, as PyTorch exports them), or `fused` as onnxruntime's model builder writes
   * them: SimplifiedLayerNormalization on the embeddings, then one com.microsoft
   * SkipSimplifiedLayerNormalization per residual addition, returning the sum (the last
   * one, the final norm's, without it).
   */
  norm?: NormForm;
  seed?: number;
  /**
   * A change planted on some tokens only: their embedding rows get seeded noise of this
   * size added, every other weight as the same seed gives it (for calibration studies).
   */
  plant?: { tokens: readonly number[]; scale: number; seed: number };
}


/**
 * Builds a Mistral-architecture decoder graph (RMSNorm, rotary positions, grouped-query
 * attention written as MatMul → Softmax → MatMul, SwiGLU MLP) whose weights are
 * seeded random numbers kept in `model.onnx_data`, as exports of large models are.
 */
class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private readonly data: Buffer[] = [];
  private offset = 0;
  private count = 0;

  constructor(private readonly random: () => number) {}

  private name(prefix: string): string {
    return `${prefix}_${this.count++}`;
  }

  node(op: string, inputs: string[], attributes: onnx.IAttributeProto[] = [], domain = '', name = ''): string {
    return this.nodeOutputs(op, inputs, [true], attributes, domain, name)[0]!;
  }

  /** A node with several outputs, each written where `present` says so, else left out (''). */
  nodeOutputs(op: string, inputs: string[], present: readonly boolean[], attributes: onnx.IAttributeProto[] = [], domain = '', name = ''): string[] {
    const outputs = present.map((p) => (p ? this.name(op.toLowerCase()) : ''));
    this.nodes.push({ opType: op, input: inputs, output: outputs, attribute: attributes, domain, name: name || `${op}_${this.count}` });
    return outputs;
  }

  /** A small constant, inline. */
  constant(values: number[], dims: number[], type: 'float' | 'int64'): string {
    const name = this.name('const');
    this.initializers.push(constantTensor(name, values, dims, type));
    return name;
  }

  /** A weight in the external data file; `edit` may change its values once drawn. */
  weight(dims: number[], scale: number, fill?: number, edit?: (values: Float32Array) => void): string {
    const name = this.name('weight');
    const size = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    for (let k = 0; k < size; k++) values[k] = fill ?? (this.random() * 2 - 1) * scale;
    edit?.(values);
    const bytes = Buffer.from(values.buffer);
    this.initializers.push({
      name,
      dims,
      dataType: FLOAT,
      dataLocation: schema.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'model.onnx_data' },
        { key: 'offset', value: String(this.offset) },
        { key: 'length', value: String(bytes.length) },
      ],
    });
    this.data.push(bytes);
    this.offset += bytes.length;
    return name;
  }

  externalData(): Buffer {
    return Buffer.concat(this.data);
  }
}


type OptionalSynth = 'slidingWindow' | 'plant' | 'softcap' | 'rotaryInterleaved' | 'positions' | 'tokenizer';

function buildGraph(options: Required<Omit<SynthOptions, OptionalSynth>> & Pick<SynthOptions, OptionalSynth>, random: () => number): { model: Uint8Array; data: Buffer } {
  const g = new GraphBuilder(random);
  const { layers, heads, kvHeads, hidden, vocab, intermediate, maxPositions } = options;
  const headSize = hidden / heads;
  const half = headSize / 2;
  const scale = 1 / Math.sqrt(hidden);
  const opset = options.attention === 'onnx-attention' ? 23 : 17;

  // Positions 0..T-1 and the causal, padding (and sliding-window) mask, built once.
  // Built on first use: a fused graph keeps neither the mask nor the full-width rotary tables, so onnxruntime has nothing unused to prune.
  const once = <T>(make: () => T): (() => T) => {
    let value: T | undefined;
    return () => (value ??= make());
  };
  const seq = g.node('Gather', [g.node('Shape', ['input_ids']), g.constant([1], [], 'int64')], [intAttribute('axis', 0)]);
  const positions = once(() => g.node('Range', [g.constant([0], [], 'int64'), seq, g.constant([1], [], 'int64')]));
  const rows = once(() => g.node('Unsqueeze', [positions(), g.constant([1], [1], 'int64')]));
  const cols = once(() => g.node('Unsqueeze', [positions(), g.constant([0], [1], 'int64')]));
  // `[T, T]`: key j within the window of query i
  const inWindow = once(() => g.node('Greater', [cols(), g.node('Sub', [rows(), g.constant([options.slidingWindow ?? 0], [], 'int64')])]));
  // `[batch, 1, 1, T]`: real keys
  const padding = once(() => g.node('Cast', [g.node('Unsqueeze', ['attention_mask', g.constant([1, 2], [2], 'int64')])], [intAttribute('to', 9)]));
  const additive = (allowed: string): string => g.node('Where', [allowed, g.constant([0], [], 'float'), g.constant([-3.4028234663852886e38], [], 'float')]);
  const mask = once(() => {
    let allowed = g.node('LessOrEqual', [cols(), rows()]);
    if (options.slidingWindow) allowed = g.node('And', [allowed, inWindow()]);
    return additive(g.node('And', [allowed, padding()]));
  });

  // Rotary tables, sliced to the sequence.
  const inv = Array.from({ length: half }, (_, k) => 1 / 10000 ** ((2 * k) / headSize));
  // each channel's frequency: the halves share them in order, interleaved pairs share one each
  const channelFrequencies = options.rotaryInterleaved ? inv.flatMap((f) => [f, f]) : [...inv, ...inv];
  const tables = once(() => {
    const angles = Array.from({ length: maxPositions }, (_, p) => channelFrequencies.map((f) => p * f)).flat();
    return {
      cos: g.node('Gather', [g.constant(angles.map(Math.cos), [maxPositions, headSize], 'float'), positions()], [intAttribute('axis', 0)]),
      sin: g.node('Gather', [g.constant(angles.map(Math.sin), [maxPositions, headSize], 'float'), positions()], [intAttribute('axis', 0)]),
    };
  });
  const rotate = (x: string): string => {
    if (options.positions === 'none') return x;
    const { cos, sin } = tables();
    if (options.rotaryInterleaved) {
      // (a, b) ↦ (−b, a) on each pair
      const pairs = g.node('Reshape', [x, g.constant([0, 0, 0, -1, 2], [5], 'int64')]);
      const element = (k: number): string => g.node('Slice', [pairs, g.constant([k], [1], 'int64'), g.constant([k + 1], [1], 'int64'), g.constant([4], [1], 'int64')]);
      const turnedPairs = g.node('Concat', [g.node('Neg', [element(1)]), element(0)], [intAttribute('axis', 4)]);
      const turned = g.node('Reshape', [turnedPairs, g.constant([0, 0, 0, headSize], [4], 'int64')]);
      return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [turned, sin])]);
    }
    const first = g.node('Slice', [x, g.constant([0], [1], 'int64'), g.constant([half], [1], 'int64'), g.constant([3], [1], 'int64')]);
    const second = g.node('Slice', [x, g.constant([half], [1], 'int64'), g.constant([headSize], [1], 'int64'), g.constant([3], [1], 'int64')]);
    const turned = g.node('Concat', [g.node('Neg', [second]), first], [intAttribute('axis', 3)]);
    return g.node('Add', [g.node('Mul', [x, cos]), g.node('Mul', [turned, sin])]);
  };
  const rmsNorm = (x: string): string => {
    // ReduceMean takes its axes as an attribute up to opset 17, as an input from opset 18
    const squares = g.node('Mul', [x, x]);
    const variance = opset >= 18 ? g.node('ReduceMean', [squares, g.constant([-1], [1], 'int64')], [intAttribute('keepdims', 1)]) : g.node('ReduceMean', [squares], [intsAttribute('axes', [-1]), intAttribute('keepdims', 1)]);
    const normed = g.node('Div', [x, g.node('Sqrt', [g.node('Add', [variance, g.constant([1e-5], [], 'float')])])]);
    return g.node('Mul', [normed, g.weight([hidden], 0, 1)]);
  };
  const splitHeads = (x: string, n: number): string => g.node('Transpose', [g.node('Reshape', [x, g.constant([0, 0, n, headSize], [4], 'int64')])], [intsAttribute('perm', [0, 2, 1, 3])]);

  const plant = options.plant;
  const planted = plant
    ? (table: Float32Array): void => {
        const noise = randomLcg(plant.seed);
        for (const token of plant.tokens) for (let d = 0; d < hidden; d++) table[token * hidden + d]! += (noise() * 2 - 1) * plant.scale;
      }
    : undefined;
  let x = g.node('Gather', [g.weight([vocab, hidden], 0.5, undefined, planted), 'input_ids'], [intAttribute('axis', 0)]);
  const fused = options.attention.startsWith('gqa');
  // What GroupQueryAttention reads besides q, k, v: the last real position of each sequence, the length, and half-width rotary tables.
  const seqlensK = fused ? g.node('Cast', [g.node('Sub', [g.node('ReduceSum', ['attention_mask', g.constant([1], [1], 'int64')], [intAttribute('keepdims', 0)]), g.constant([1], [], 'int64')])], [intAttribute('to', 6)]) : '';
  const totalLength = fused ? g.node('Cast', [seq], [intAttribute('to', 6)]) : '';
  const halfAngles = Array.from({ length: maxPositions }, (_, p) => inv.map((f) => p * f)).flat();
  const caches = once(() => [g.constant(halfAngles.map(Math.cos), [maxPositions, half], 'float'), g.constant(halfAngles.map(Math.sin), [maxPositions, half], 'float')]);
  const mergeHeads = (t: string, n: number): string => g.node('Reshape', [g.node('Transpose', [t], [intsAttribute('perm', [0, 2, 1, 3])]), g.constant([0, 0, n * headSize], [3], 'int64')]);
  // `[batch, kv, T, d]` → `[batch, heads, T, d]`: each key/value head repeated for its group
  const repeat = (t: string): string =>
    g.node('Reshape', [g.node('Tile', [g.node('Unsqueeze', [t, g.constant([2], [1], 'int64')]), g.constant([1, 1, heads / kvHeads, 1, 1], [5], 'int64')]), g.constant([0, heads, -1, headSize], [4], 'int64')]);
  // The residual stream and each norm: decomposed (norm, then Add), or fused (one kernel adds the pending branch and normalises).
  const fusedNorm = options.norm === 'fused';
  const epsilon = { name: 'epsilon', f: 1e-5, type: schema.AttributeProto.AttributeType.FLOAT };
  let pending = '';
  /** Adds `branch` to the stream (now, or in the next norm when fused) and returns the stream normalised. */
  const addThenNorm = (branch: string, keepSum = true): string => {
    if (!fusedNorm) {
      if (branch) x = g.node('Add', [x, branch]);
      return rmsNorm(x);
    }
    if (!branch) return g.node('SimplifiedLayerNormalization', [x, g.weight([hidden], 0, 1)], [intAttribute('axis', -1), epsilon]);
    const [normed, , , sum] = g.nodeOutputs('SkipSimplifiedLayerNormalization', [branch, x, g.weight([hidden], 0, 1)], [true, false, false, keepSum], [epsilon], 'com.microsoft');
    if (keepSum) x = sum!;
    return normed!;
  };
  for (let l = 0; l < layers; l++) {
    const h = addThenNorm(pending);
    const wq = g.weight([hidden, heads * headSize], scale);
    const wk = g.weight([hidden, kvHeads * headSize], scale);
    const wv = g.weight([hidden, kvHeads * headSize], scale);
    let merged: string;
    if (options.attention === 'mha') {
      const q = mergeHeads(rotate(splitHeads(g.node('MatMul', [h, wq]), heads)), heads);
      const k = mergeHeads(repeat(rotate(splitHeads(g.node('MatMul', [h, wk]), kvHeads))), heads);
      const v = mergeHeads(repeat(splitHeads(g.node('MatMul', [h, wv]), kvHeads)), heads);
      const keyPadding = g.node('Cast', ['attention_mask'], [intAttribute('to', 6)]);
      const bias = options.slidingWindow ? g.node('Unsqueeze', [additive(inWindow()), g.constant([0, 1], [2], 'int64')]) : '';
      const attributes = [intAttribute('num_heads', heads), intAttribute('unidirectional', 1)];
      merged = g.node('MultiHeadAttention', [q, k, v, '', keyPadding, ...(bias ? [bias] : [])], attributes, 'com.microsoft', `/model/layers.${l}/attn/MultiHeadAttention`);
    } else if (options.attention === 'onnx-attention') {
      const q = rotate(splitHeads(g.node('MatMul', [h, wq]), heads));
      const k = rotate(splitHeads(g.node('MatMul', [h, wk]), kvHeads));
      const v = splitHeads(g.node('MatMul', [h, wv]), kvHeads);
      // onnxruntime wants the mask's query axis whole: `[batch, 1, T, T]`, not `[batch, 1, 1, T]`
      const allowed = g.node('And', [padding(), options.slidingWindow ? inWindow() : g.node('GreaterOrEqual', [rows(), g.constant([0], [], 'int64')])]);
      merged = mergeHeads(g.node('Attention', [q, k, v, allowed], [intAttribute('is_causal', 1)], '', `/model/layers.${l}/self_attn/Attention`), heads);
    } else if (options.attention === 'ms-attention') {
      // one head count in the kernel: each key/value head's columns repeated for its group, as `repeat` does
      const wide = (w: string): string =>
        g.node('Reshape', [g.node('Tile', [g.node('Reshape', [w, g.constant([hidden, kvHeads, 1, headSize], [4], 'int64')]), g.constant([1, 1, heads / kvHeads, 1], [4], 'int64')]), g.constant([hidden, heads * headSize], [2], 'int64')]);
      const weights = g.node('Concat', [wq, wide(wk), wide(wv)], [intAttribute('axis', 1)]);
      const bias = g.constant(new Array<number>(3 * heads * headSize).fill(0), [3 * heads * headSize], 'float');
      const maskIndex = g.node('Cast', ['attention_mask'], [intAttribute('to', 6)]);
      merged = g.node('Attention', [h, weights, bias, maskIndex], [intAttribute('num_heads', heads), intAttribute('unidirectional', 1)], 'com.microsoft', `/model/layers.${l}/attn/Attention`);
    } else if (!fused) {
      const q = rotate(splitHeads(g.node('MatMul', [h, wq]), heads));
      const k = rotate(splitHeads(g.node('MatMul', [h, wk]), kvHeads));
      const v = splitHeads(g.node('MatMul', [h, wv]), kvHeads);
      const keys = g.node('Transpose', [repeat(k)], [intsAttribute('perm', [0, 1, 3, 2])]);
      let scaled = g.node('Mul', [g.node('MatMul', [q, keys]), g.constant([1 / Math.sqrt(headSize)], [], 'float')]);
      if (options.softcap) {
        const cap = g.constant([options.softcap], [], 'float');
        scaled = g.node('Mul', [g.node('Tanh', [g.node('Div', [scaled, cap])]), cap]);
      }
      const scores = g.node('Add', [scaled, mask()]);
      const probabilities = g.node('Softmax', [scores], [intAttribute('axis', -1)], '', `/model/layers.${l}/self_attn/Softmax`);
      merged = mergeHeads(g.node('MatMul', [probabilities, repeat(v)]), heads);
    } else {
      const rotaryInside = options.attention !== 'gqa-rotary-outside' && options.positions !== 'none';
      let qkv: string[];
      if (options.attention === 'gqa') {
        qkv = [g.node('MatMul', [h, g.node('Concat', [wq, wk, wv], [intAttribute('axis', 1)])]), '', ''];
      } else if (rotaryInside) {
        qkv = [g.node('MatMul', [h, wq]), g.node('MatMul', [h, wk]), g.node('MatMul', [h, wv])];
      } else {
        qkv = [mergeHeads(rotate(splitHeads(g.node('MatMul', [h, wq]), heads)), heads), mergeHeads(rotate(splitHeads(g.node('MatMul', [h, wk]), kvHeads)), kvHeads), g.node('MatMul', [h, wv])];
      }
      const attributes = [
        intAttribute('num_heads', heads),
        intAttribute('kv_num_heads', kvHeads),
        intAttribute('do_rotary', rotaryInside ? 1 : 0),
        // onnxruntime's window, like Hugging Face's sliding_window, counts the query itself: key j is seen from i when i − j < W
        ...(options.slidingWindow ? [intAttribute('local_window_size', options.slidingWindow)] : []),
        ...(options.softcap ? [{ name: 'softcap', f: options.softcap, type: schema.AttributeProto.AttributeType.FLOAT }] : []),
        ...(options.rotaryInterleaved ? [intAttribute('rotary_interleaved', 1)] : []),
      ];
      const inputs = [...qkv, '', '', seqlensK, totalLength, ...(rotaryInside ? caches() : [])];
      merged = g.node('GroupQueryAttention', inputs, attributes, 'com.microsoft', `/model/layers.${l}/attn/GroupQueryAttention`);
    }
    const h2 = addThenNorm(g.node('MatMul', [merged, g.weight([heads * headSize, hidden], scale)]));
    const gate = g.node('MatMul', [h2, g.weight([hidden, intermediate], scale)]);
    const up = g.node('MatMul', [h2, g.weight([hidden, intermediate], scale)]);
    const act = g.node('Mul', [g.node('Mul', [gate, g.node('Sigmoid', [gate])]), up]);
    pending = g.node('MatMul', [act, g.weight([intermediate, hidden], 1 / Math.sqrt(intermediate))]);
  }
  // the final norm's kernel keeps its sum to itself, as nothing after it reads the stream
  const logits = g.node('MatMul', [addThenNorm(pending, false), g.weight([hidden, vocab], scale)]);
  g.nodes.push({ opType: 'Identity', input: [logits], output: ['logits'], name: 'logits' });

  const tensor = (name: string, elemType: number, dims: Array<number | string>): onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const model: onnx.IModelProto = {
    // ONNX's Attention operator came with opset 23, which needs IR version 11
    irVersion: options.attention === 'onnx-attention' ? 11 : 8,
    producerName: 'legal-attn synth',
    opsetImport: [{ domain: '', version: opset }, ...(fused || options.attention === 'mha' || options.attention === 'ms-attention' || fusedNorm ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    graph: {
      name: 'synthetic-mistral',
      node: g.nodes,
      initializer: g.initializers,
      input: [tensor('input_ids', INT64, ['batch', 'seq']), tensor('attention_mask', INT64, ['batch', 'seq'])],
      output: [tensor('logits', FLOAT, ['batch', 'seq', vocab])],
    },
  };
  return { model: schema.ModelProto.encode(model).finish(), data: g.externalData() };
}

/** The tokenizer a synthetic checkpoint carries unless given another: the tiny family's, ids up to 4095. */
export const SHIPPED_TOKENIZER = path.join(PACKAGE_ROOT, 'models', 'tiny-legal-base', 'tokenizer.json');

/**
 * `synth`: writes a checkpoint folder with a seeded random Mistral-architecture model
 * (graph, external data, the shipped tokenizer or `tokenizer`, config.json), to test and
 * benchmark 7B-shaped attention without 7B weights.
 */
export async function synthCheckpoint(out: string, options: SynthOptions): Promise<string> {
  const tokenizer = options.tokenizer ?? SHIPPED_TOKENIZER;
  const needed = await tokenizerVocabSize(tokenizer);
  const vocab = options.vocab ?? needed;
  const full = { intermediate: options.hidden * 3, maxPositions: 8192, attention: 'decomposed' as AttentionForm, norm: 'decomposed' as NormForm, seed: 1, ...options, vocab };
  if (full.hidden % full.heads !== 0 || (full.hidden / full.heads) % 2 !== 0) throw badInput(`--hidden ${full.hidden} must split into ${full.heads} heads of an even size.`);
  if (full.heads % full.kvHeads !== 0) throw badInput(`--heads ${full.heads} must be a multiple of --kv-heads ${full.kvHeads}.`);
  if (full.softcap !== undefined && !(full.softcap > 0)) throw badInput(`--softcap ${full.softcap} must be a positive number.`);
  if (full.softcap && (full.attention === 'mha' || full.attention === 'onnx-attention')) throw badInput(`--softcap: the ${full.attention} form is written without one; use --attention decomposed or a gqa form.`);
  if (full.attention === 'ms-attention' && full.positions !== 'none') throw badInput('--attention ms-attention projects q and k inside the kernel, where no rotary can be applied: add --positions none.');
  if (full.attention === 'ms-attention' && full.slidingWindow) throw badInput('--attention ms-attention is written without a sliding window: drop --sliding-window.');
  if (vocab < needed) throw badInput(`--vocab ${vocab}: the synthetic model uses ${options.tokenizer ?? 'the shipped tokenizer'}, whose ids reach ${needed - 1}; use --vocab ${needed} or more.`);
  const { model, data } = buildGraph(full, randomLcg(full.seed));
  const target = path.resolve(out);
  await writeFolderWhole(target, async (staging) => {
    await mkdir(staging, { recursive: true });
    await writeFile(path.join(staging, 'model.onnx'), model);
    await writeFile(path.join(staging, 'model.onnx_data'), data);
    await copyFile(tokenizer, path.join(staging, 'tokenizer.json'));
    await writeJson(path.join(staging, 'config.json'), {
      architectures: ['MistralForCausalLM'],
      model_type: 'mistral',
      num_hidden_layers: full.layers,
      num_attention_heads: full.heads,
      num_key_value_heads: full.kvHeads,
      hidden_size: full.hidden,
      head_dim: full.hidden / full.heads,
      intermediate_size: full.intermediate,
      max_position_embeddings: full.maxPositions,
      vocab_size: full.vocab,
      sliding_window: full.slidingWindow ?? null,
      ...(full.softcap ? { attn_logit_softcapping: full.softcap } : {}),
      legal_attn_synth: { seed: full.seed, attention: full.attention, norm: full.norm, rotaryInterleaved: full.rotaryInterleaved ?? false, positions: full.positions ?? 'rotary' },
    });
  });
  return target;
}
