import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';
import type { KnockoutPass } from '../../lib/runtime/knockout-session.js';
import { knockoutGraph } from '../../lib/rewrite/knockout-graph.js';
import { synthCheckpoint, type SynthOptions } from '../../lib/synth/synth-checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { constantTensor, intAttribute, intsAttribute } from '../../lib/onnx/build.js';
import { schema, type ModelProto, type NodeProto } from '../../lib/onnx/proto.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { genaiFolder } from '../checkpoint/genai-folders.js';
import { modelDir, temporaryFolder } from '../helpers.js';
import { knockouts, largestDifference, TEXT } from './knockout-passes.js';

const SHAPE = { layers: 2, heads: 8, kvHeads: 2, hidden: 128, vocab: 4096 };

describe('a knockout pass on fused attention', () => {
  let root = '';
  let ids = new BigInt64Array();
  const twins = new Map<string, KnockoutPass>();
  async function twin(extra: Partial<SynthOptions>): Promise<KnockoutPass> {
    const key = JSON.stringify(extra);
    if (!twins.has(key)) twins.set(key, await knockouts(await openCheckpoint(await synthCheckpoint(path.join(root, `decomposed-${twins.size}`), { ...SHAPE, ...extra })), ids));
    return twins.get(key)!;
  }

  before(async () => {
    root = await temporaryFolder();
    ids = BigInt64Array.from((await (await loadTokenizer(modelDir('base'))).encode(TEXT)).ids);
  });

  const cases: Array<[string, Partial<SynthOptions>]> = [
    ['gqa', { attention: 'gqa', slidingWindow: 6 }],
    ['gqa', { attention: 'gqa' }],
    ['gqa', { attention: 'gqa', softcap: 2 }],
    ['gqa-unpacked', { attention: 'gqa-unpacked', slidingWindow: 6 }],
    ['gqa-rotary-outside', { attention: 'gqa-rotary-outside' }],
    ['mha', { attention: 'mha', slidingWindow: 6 }],
    ['mha', { attention: 'mha' }],
    ['onnx-attention', { attention: 'onnx-attention', slidingWindow: 6 }],
    ['onnx-attention', { attention: 'onnx-attention' }],
    ['ms-attention', { attention: 'ms-attention', positions: 'none' }],
  ];
  for (const [form, options] of cases) {
    const { attention, ...shape } = options;
    const described = `${form}${shape.slidingWindow ? ', with a window' : ''}${shape.softcap ? `, soft-capped at ${shape.softcap}` : ''}${shape.positions === 'none' ? ', without rotary' : ''}`;
    it(`${described}: the log-probs and cosines of the decomposed twin, for all-layer and single-layer knockouts (1e-5)`, async () => {
      const expected = await twin(shape);
      const actual = await knockouts(await openCheckpoint(await synthCheckpoint(path.join(root, described.replace(/\W+/g, '-')), { ...SHAPE, ...options })), ids);
      const T = ids.length;
      assert.deepEqual([actual.rows, actual.length], [expected.rows, expected.length]);
      const logprob = largestDifference(actual.logprob, expected.logprob, T);
      const cosine = largestDifference(actual.cosine, expected.cosine, T);
      assert.ok(logprob < 1e-5 && cosine < 1e-5, `${attention}: log-probs differ by ${logprob}, cosines by ${cosine}`);
      // and each knockout moves the twin's numbers by far more than that
      for (let r = 1; r < expected.rows; r++) {
        const change = largestDifference(expected.logprob.subarray(r * T, (r + 1) * T), expected.logprob.subarray(0, T), T);
        assert.ok(change > 1e-3, `row ${r} changes the log-probs by only ${change}`);
      }
    });
  }
});

describe('a knockout on ONNX Attention with other masks than a boolean one', () => {
  let root = '';
  let ids = new BigInt64Array();
  let twin: KnockoutPass;
  before(async () => {
    root = await temporaryFolder();
    ids = BigInt64Array.from((await (await loadTokenizer(modelDir('base'))).encode(TEXT)).ids);
    twin = await knockouts(await openCheckpoint(await synthCheckpoint(path.join(root, 'decomposed'), SHAPE)), ids);
  });

  /** The synth ONNX Attention checkpoint with each kernel's boolean attn_mask replaced. */
  async function withMask(name: string, replace: (model: ModelProto, node: NodeProto) => string): Promise<Checkpoint> {
    const dir = await synthCheckpoint(path.join(root, name), { ...SHAPE, attention: 'onnx-attention' });
    const file = path.join(dir, 'model.onnx');
    const model = decodeModel(await readFile(file));
    for (const node of model.graph!.node!.filter((n) => n.opType === 'Attention')) node.input![3] = replace(model, node);
    await writeFile(file, schema.ModelProto.encode(model).finish());
    return openCheckpoint(dir);
  }

  for (const [kind, replace] of [
    ['none (is_causal alone)', () => ''],
    [
      'an additive float mask (0 where seen, the lowest float elsewhere)',
      (model: ModelProto, node: NodeProto): string => {
        const graph = model.graph!;
        if (!graph.initializer!.some((t) => t.name === 'seen_bias')) graph.initializer!.push(constantTensor('seen_bias', [0], [], 'float'), constantTensor('unseen_bias', [-3.4028234663852886e38], [], 'float'));
        const additive = `${node.input![3]}_additive`;
        graph.node!.splice(graph.node!.indexOf(node), 0, { opType: 'Where', input: [node.input![3]!, 'seen_bias', 'unseen_bias'], output: [additive], name: additive });
        return additive;
      },
    ],
  ] as const) {
    it(`${kind}: the log-probs and cosines of the decomposed twin (1e-5)`, async () => {
      const checkpoint = await withMask(kind.replace(/\W+/g, '-'), replace);
      assert.equal(checkpoint.graph.attention[0]!.fused?.bias !== undefined, kind.startsWith('an additive'));
      const actual = await knockouts(checkpoint, ids);
      const T = ids.length;
      assert.ok(largestDifference(actual.logprob, twin.logprob, T) < 1e-5 && largestDifference(actual.cosine, twin.cosine, T) < 1e-5);
    });
  }
});

describe('a knockout on GroupQueryAttention beside past key/value inputs, as the model builder writes them', () => {
  it('feeds attention_bias beside the empty past, and gives the log-probs and cosines of the decomposed twin (1e-5)', async () => {
    const root = await temporaryFolder();
    const ids = BigInt64Array.from((await (await loadTokenizer(modelDir('base'))).encode(TEXT)).ids);
    const dir = await synthCheckpoint(path.join(root, 'gqa-past'), { ...SHAPE, attention: 'gqa' });
    const file = path.join(dir, 'model.onnx');
    const model = decodeModel(await readFile(file));
    const dims = (...d: Array<string | number>) => ({ dim: d.map((x) => (typeof x === 'string' ? { dimParam: x } : { dimValue: x })) });
    model.graph!.node!.filter((n) => n.opType === 'GroupQueryAttention').forEach((node, l) => {
      const [key, value] = [`past_key_values.${l}.key`, `past_key_values.${l}.value`];
      for (const name of [key, value]) model.graph!.input!.push({ name, type: { tensorType: { elemType: 1, shape: dims('batch', SHAPE.kvHeads, 'past', SHAPE.hidden / SHAPE.heads) } } });
      node.input![3] = key;
      node.input![4] = value;
      node.output = [node.output![0]!, `present.${l}.key`, `present.${l}.value`];
    });
    await writeFile(file, schema.ModelProto.encode(model).finish());
    const expected = await knockouts(await openCheckpoint(await synthCheckpoint(path.join(root, 'decomposed'), SHAPE)), ids);
    const actual = await knockouts(await openCheckpoint(dir), ids);
    const T = ids.length;
    assert.ok(largestDifference(actual.logprob, expected.logprob, T) < 1e-5 && largestDifference(actual.cosine, expected.cosine, T) < 1e-5);
  });
});

describe('a knockout on com.microsoft Attention beside a past input (the optimizer\'s GPT-2, opset 11)', () => {
  const ids = BigInt64Array.from([5, 17, 300, 42, 99, 120, 7, 8, 250, 31, 64, 77], BigInt);
  const T = ids.length;
  /** The GPT-2 folder with each Attention node edited. */
  async function gpt2(edit: (model: ModelProto, node: NodeProto) => void): Promise<Checkpoint> {
    const dir = await genaiFolder('optimizer-gpt2-fp32');
    const model = decodeModel(await readFile(path.join(dir, 'past.onnx')));
    for (const node of model.graph!.node!.filter((n) => n.opType === 'Attention')) edit(model, node);
    await writeFile(path.join(dir, 'past.onnx'), schema.ModelProto.encode(model).finish());
    return openCheckpoint(dir);
  }
  let withoutPast: KnockoutPass;
  before(async () => {
    // the past is fed empty, so the kernels compute the same without it, and take attention_bias then
    withoutPast = await knockouts(await gpt2((_, node) => void (node.input![4] = '')), ids);
    for (let r = 1; r < withoutPast.rows; r++) assert.ok(largestDifference(withoutPast.logprob.subarray(r * T, (r + 1) * T), withoutPast.logprob.subarray(0, T), T) > 1e-3, `row ${r} changes nothing`);
  });

  it('goes through a 3-D mask_index with the padding by key, and equals the knockout of the same graph without its past (1e-5)', async () => {
    const actual = await knockouts(await gpt2(() => undefined), ids);
    assert.ok(largestDifference(actual.logprob, withoutPast.logprob, T) < 1e-5 && largestDifference(actual.cosine, withoutPast.cosine, T) < 1e-5);
  });

  it('widens a mask_index of key counts to the 3-D mask, and equals the knockout without a past (1e-5)', async () => {
    const checkpoint = await gpt2((model, node) => {
      const graph = model.graph!;
      if (!graph.node!.some((n) => n.output![0] === 'key_counts')) {
        graph.initializer!.push(constantTensor('flat', [-1], [1], 'int64'));
        graph.node!.unshift(
          { opType: 'ReduceSum', input: ['attention_mask'], output: ['key_sums'], name: 'key_sums', attribute: [intsAttribute('axes', [1]), intAttribute('keepdims', 0)] },
          { opType: 'Reshape', input: ['key_sums', 'flat'], output: ['key_counts'], name: 'key_counts' },
        );
      }
      node.input![3] = 'key_counts';
    });
    assert.deepEqual(checkpoint.graph.attention[0]!.fused?.realKeys, { tensor: 'key_counts', as: 'count' });
    const actual = await knockouts(checkpoint, ids);
    assert.ok(largestDifference(actual.logprob, withoutPast.logprob, T) < 1e-5 && largestDifference(actual.cosine, withoutPast.cosine, T) < 1e-5);
  });
});

describe("a knockout on float16 kernels as onnxruntime's tools write them", () => {
  const ids = BigInt64Array.from([5, 17, 300, 42, 99, 120, 7, 8, 250, 31, 64, 77], BigInt);
  const T = ids.length;
  /** Each knockout row's change of the log-probs from the baseline's, at the positions that predict a token. */
  const changes = (pass: KnockoutPass): number[] => Array.from({ length: (pass.rows - 1) * (T - 1) }, (_, k) => pass.logprob[(1 + Math.floor(k / (T - 1))) * T + (k % (T - 1))]! - pass.logprob[k % (T - 1)]!);

  it("the optimizer's GPT-2 in float16 (a 3-D mask_index beside a past): the float32 folder's changes to half precision", async () => {
    const half = changes(await knockouts(await openCheckpoint(await genaiFolder('optimizer-gpt2-fp16')), ids));
    const full = changes(await knockouts(await openCheckpoint(await genaiFolder('optimizer-gpt2-fp32')), ids));
    const difference = Math.max(...half.map((v, k) => Math.abs(v - full[k]!)));
    assert.ok(difference < 1e-3, `the changes differ by up to ${difference}`);
    assert.ok(Math.max(...full.map(Math.abs)) > 1e-2, 'the knockout changes the log-probs by more than the tolerance');
  });

  it("the model builder's float16 Llama (MultiHeadAttention with past key/values): every token up to the span as the baseline, every later one changed", async () => {
    const pass = await knockouts(await openCheckpoint(await genaiFolder('builder-llama-fp16-mha')), ids);
    const row = (r: number): number[] => Array.from(pass.logprob.subarray(r * T, (r + 1) * T - 1));
    // rows 1 and 2 knock out [5, 6] (every layer, layer 1), row 3 knocks out [2] in layer 0
    for (const [r, last] of [[1, 6], [2, 6], [3, 2]] as const) {
      assert.deepEqual(row(r).slice(0, last + 1), row(0).slice(0, last + 1), `row ${r}: a token up to the span changed`);
      assert.ok(row(r).slice(last + 1).every((v, i) => v !== row(0)[last + 1 + i]), `row ${r}: a later token is unchanged`);
    }
  });
});

describe('a knockout on fused attention is refused', () => {
  it('in one sentence naming the graph, the node and why, where a kernel takes no mask legal-attn knows', async () => {
    const checkpoint = await openCheckpoint(await genaiFolder('optimizer-gpt2-fp32'));
    const stream = await residualStreamOf(checkpoint);
    if (typeof stream === 'string') throw new Error(stream);
    const model = decodeModel(await readFile(checkpoint.graphFile));
    model.graph!.node!.find((n) => n.name === 'GptAttention_2')!.opType = 'PackedAttention';
    assert.throws(
      () => knockoutGraph(schema.ModelProto.encode(model).finish(), checkpoint.graph.attention, stream, checkpoint.graphFile, { embeddingRows: checkpoint.graph.embeddingRows }),
      (error: Error) =>
        error.message ===
        `${checkpoint.graphFile}: node GptAttention_2 (layer 2): com.microsoft PackedAttention takes no attention mask legal-attn knows, so attention knockout cannot reach its scores; export the model with explicit attention (a Softmax per layer).`,
    );
  });
});
