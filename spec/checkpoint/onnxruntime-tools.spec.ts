import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { readMultiHeadAttention, readProjectedAttention } from '../../lib/checkpoint/fused-attention.js';
import { findResidualStream } from '../../lib/checkpoint/residual-stream.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { schema } from '../../lib/onnx/proto.js';
import { perturbCheckpoint } from '../../lib/synth/perturb.js';
import { ROOT, run, temporaryFolder } from '../helpers.js';
import { genaiFolder, graphTensors, initializerValues, kernelDifference, tracedMaps } from './genai-folders.js';

const TEXT = 'A [[duty of care]] is owed by the defendant to the claimant.';
const CONCEPTS = path.join(ROOT, 'concepts', 'duty-of-care.yaml');

/** Trace one text with full maps; the maps `[layers, heads, T, T]` and the traced ids. */
async function trace(dir: string): Promise<{ maps: { data: Float32Array; dims: number[] }; ids: BigInt64Array }> {
  const out = path.join(await temporaryFolder(), 'trace');
  const result = await run('trace', '--model', dir, '--text', TEXT, '--out', out, '--maps', 'full');
  assert.equal(result.code, 0, result.err);
  const tokens = JSON.parse(await readFile(path.join(out, 'tokens.json'), 'utf8')) as { ids: number[] };
  return { maps: await tracedMaps(out), ids: BigInt64Array.from(tokens.ids, BigInt) };
}

/** Every row of every map sums to 1, and no query sees a later key. */
function assertProbabilitiesAndCausal({ data, dims }: { data: Float32Array; dims: number[] }): void {
  const T = dims[3]!;
  for (let row = 0; row < data.length / T; row++) {
    const i = row % T;
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const p = data[row * T + j]!;
      sum += p;
      if (j > i) assert.equal(p, 0, `row ${row}: key ${j} seen from query ${i}`);
    }
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${row} sums to ${sum}`);
  }
}

/** compare against a copy of the same folder under noise (0.1 × each tensor's sd): shares for every layer and head of both. */
async function compareWithNoise(dir: string, layers: number, heads: number): Promise<{ shares: Array<Record<string, string>>; representations: string }> {
  const root = await temporaryFolder();
  const copy = path.join(root, 'noise');
  await perturbCheckpoint(dir, copy, { noise: { scale: 0.1, seed: 1 } });
  const out = path.join(root, 'compare');
  const result = await run('--quiet', 'compare', '--model', `written=${dir}`, '--model', `noise=${copy}`, '--concepts', CONCEPTS, '--out', out, '--no-report');
  assert.equal(result.code, 0, result.err);
  const shares = parse<Record<string, string>>(await readFile(path.join(out, 'shares.csv'), 'utf8'), { columns: true });
  const cells = new Set(shares.filter((r) => r.target === 'concept' && r.query_set === 'all').map((r) => `${r.model}:${r.layer}:${r.head}`));
  assert.equal(cells.size, 2 * layers * heads);
  return { shares, representations: await readFile(path.join(out, 'representations.csv'), 'utf8') };
}

describe("folders as onnxruntime's own tools write them", function () {
  this.timeout(120_000);

  describe("the model builder's float16 Llama (MultiHeadAttention with past key/values; genai_config.json)", () => {
    let dir: string;
    let checkpoint: Checkpoint;
    before(async () => {
      dir = await genaiFolder('builder-llama-fp16-mha');
      checkpoint = await openCheckpoint(dir);
    });

    it('opens as written: the decoder, its input names and the shape from genai_config.json', () => {
      assert.equal(path.basename(checkpoint.graphFile), 'model.onnx');
      assert.equal(checkpoint.inputNames.past_key_names, 'past_key_values.%d.key');
      assert.deepEqual({ layers: checkpoint.shape.layers, heads: checkpoint.shape.heads, maxPositions: checkpoint.shape.maxPositions }, { layers: 2, heads: 1, maxPositions: 2048 });
      assert.deepEqual(checkpoint.graph.attention.map((site) => site.fused?.op), ['MultiHeadAttention', 'MultiHeadAttention']);
      assert.equal(checkpoint.graph.producer.split(' ')[0], 'onnxruntime-genai');
    });

    it("traces rows that are probabilities and causal, and P · V is the kernel's own output", async () => {
      const { maps, ids } = await trace(dir);
      assertProbabilitiesAndCausal(maps);
      const T = maps.dims[3]!;
      const model = decodeModel(await readFile(checkpoint.graphFile)).graph!;
      for (const [layer, node] of model.node!.filter((n) => n.opType === 'MultiHeadAttention').entries()) {
        const [values, kernel] = [node.input![2]!, node.output![0]!];
        const tensors = await graphTensors(checkpoint, ids, [values, kernel]);
        // float16 values and outputs: half precision's 2⁻¹¹ relative, on values of order 1
        assert.ok(kernelDifference(maps.data, layer, 1, T, tensors.get(values)!.data, tensors.get(kernel)!.data) < 2e-3);
      }
    });

    it('compares with a copy of itself under noise', async () => {
      const { shares } = await compareWithNoise(dir, 2, 1);
      const written = shares.filter((r) => r.model === 'written' && r.target === 'concept' && r.query_set === 'all' && r.sink === 'include');
      const noise = shares.filter((r) => r.model === 'noise' && r.target === 'concept' && r.query_set === 'all' && r.sink === 'include');
      // the tiny random model attends almost evenly; noise moves its shares by about 1e-5, far above float16's rounding of them
      assert.ok(written.some((r, k) => Math.abs(Number(r.share) - Number(noise[k]!.share)) > 1e-6), 'noise on every weight moves some share');
    });
  });

  describe("the optimizer's GPT-2 (EmbedLayerNormalization, com.microsoft Attention with past_N, opset 11; past.onnx named in genai_config.json)", () => {
    let dir: string;
    let checkpoint: Checkpoint;
    before(async () => {
      dir = await genaiFolder('optimizer-gpt2-fp32');
      checkpoint = await openCheckpoint(dir);
    });

    it('opens past.onnx, reads the stacked past inputs and finds the residual stream from the embedding sum', async () => {
      assert.equal(path.basename(checkpoint.graphFile), 'past.onnx');
      assert.deepEqual(checkpoint.graph.attention.map((site) => site.fused?.op), Array(5).fill('Attention'));
      const stream = findResidualStream(decodeModel(await readFile(checkpoint.graphFile)).graph!, 5);
      assert.ok(typeof stream !== 'string', typeof stream === 'string' ? stream : '');
      assert.equal(stream.states[0], 'EmbedLayerNormalization_0_embedding_sum');
      // the last layer's sum is formed beside its SkipLayerNormalization: input + skip + the MLP's bias
      assert.equal(stream.sums[5]?.length, 3);
    });

    it("traces rows that are probabilities and causal, and P · V is the kernel's own output", async () => {
      const { maps, ids } = await trace(dir);
      assertProbabilitiesAndCausal(maps);
      const T = maps.dims[3]!;
      const model = decodeModel(await readFile(checkpoint.graphFile)).graph!;
      for (const [layer, node] of model.node!.filter((n) => n.opType === 'Attention').entries()) {
        const [input, kernel] = [node.input![0]!, node.output![0]!];
        const tensors = await graphTensors(checkpoint, ids, [input, kernel]);
        // the kernel projects V itself: X · W[:, 2h:3h] + b[2h:3h]
        const weights = await initializerValues(checkpoint, node.input![1]!);
        const bias = await initializerValues(checkpoint, node.input![2]!);
        const x = tensors.get(input)!.data;
        const hidden = x.length / T;
        const values = new Float32Array(T * hidden);
        for (let t = 0; t < T; t++) {
          for (let c = 0; c < hidden; c++) {
            let v = bias[2 * hidden + c]!;
            for (let r = 0; r < hidden; r++) v += x[t * hidden + r]! * weights[r * 3 * hidden + 2 * hidden + c]!;
            values[t * hidden + c] = v;
          }
        }
        assert.ok(kernelDifference(maps.data, layer, 4, T, values, tensors.get(kernel)!.data) < 1e-5);
      }
    });

    it('compares with a copy of itself under noise, representations included', async () => {
      const { representations } = await compareWithNoise(dir, 5, 4);
      assert.ok(representations.trim().split('\n').length > 1, 'representations.csv has rows');
    });

    it('in float16 gives the float32 folder’s maps to half precision', async () => {
      const half = await trace(await genaiFolder('optimizer-gpt2-fp16'));
      const full = await trace(dir);
      assertProbabilitiesAndCausal(half.maps);
      assert.ok(half.maps.data.every((p, k) => Math.abs(p - full.maps.data[k]!) < 1e-3));
    });
  });

  describe('refusals that name the file and say what to do', () => {
    it('a genai_config.json naming a decoder that is not there', async () => {
      const dir = await genaiFolder('optimizer-gpt2-fp32');
      await rm(path.join(dir, 'past.onnx'));
      const result = await run('inspect', '--model', dir);
      assert.equal(result.code, 2);
      assert.match(result.err, /^legal-attn: \S+past\.onnx: not found; \S+genai_config\.json names it as the decoder \(model\.decoder\.filename\): copy it beside genai_config\.json\.\n$/);
    });

    it('a genai_config.json that is not JSON', async () => {
      const dir = await genaiFolder('optimizer-gpt2-fp32');
      await writeFile(path.join(dir, 'genai_config.json'), '{ "model": ');
      const result = await run('inspect', '--model', dir);
      assert.equal(result.code, 2);
      assert.match(result.err, /^legal-attn: \S+genai_config\.json: not JSON; fix it, or remove it/);
    });

    it("advice true for the tool that wrote the graph: the optimizer's is told to optimize again without fusing attention", async () => {
      const dir = await genaiFolder('optimizer-gpt2-fp32');
      const model = decodeModel(await readFile(path.join(dir, 'past.onnx')));
      // rotary tables made inside the kernel: a form legal-attn does not read
      model.graph!.node!.find((n) => n.opType === 'Attention')!.attribute!.push({ name: 'do_rotary', i: 1, type: schema.AttributeProto.AttributeType.INT });
      await writeFile(path.join(dir, 'past.onnx'), schema.ModelProto.encode(model).finish());
      const result = await run('inspect', '--model', dir);
      assert.equal(result.code, 2);
      assert.match(result.err, /\(do_rotary \(rotary tables made inside the kernel\)\); onnxruntime's transformer optimizer fused this graph: optimize the export again with `--disable_attention`/);
    });

    it('a past computed inside the graph, which no feed can empty', () => {
      const facts = { typeOf: () => 'float32', rankOf: (t: string) => (t === 'mask' ? 2 : 3), isGraphInput: (t: string) => t !== 'computed_past' };
      const mha = { opType: 'MultiHeadAttention', input: ['q', 'k', 'v', '', '', '', 'computed_past', 'past_value'], attribute: [{ name: 'num_heads', i: 2 }] };
      assert.match(readMultiHeadAttention(mha, facts) as string, /past key and value inputs computed inside the graph/);
      assert.equal(typeof readMultiHeadAttention({ ...mha, input: ['q', 'k', 'v', '', '', '', 'past_key', 'past_value'] }, facts), 'object');
      const attention = { opType: 'Attention', domain: 'com.microsoft', input: ['x', 'w', 'b', 'mask', 'computed_past'], attribute: [{ name: 'num_heads', i: 2 }] };
      assert.match(readProjectedAttention(attention, facts) as string, /computed inside the graph/);
      assert.equal(typeof readProjectedAttention({ ...attention, input: ['x', 'w', 'b', 'mask', 'past_0'] }, facts), 'object');
    });
  });
});
