import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { findResidualStream } from '../../lib/checkpoint/residual-stream.js';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import { decodeModel } from '../../lib/onnx/model.js';
import { openStatesSession, residualStreamOf } from '../../lib/runtime/states-session.js';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { synthCheckpoint } from '../../lib/synth/synth-checkpoint.js';
import { modelDir, temporaryFolder } from '../helpers.js';
import { exportsOrSkip } from './exports.js';

const TEXT = 'The statement was hearsay, so the court excluded it under the rule against hearsay.';

/** Every token's residual states `[states, T, hidden]` (the first token's too), through the pooled-state graph with one row per token. */
async function tokenStates(checkpoint: Checkpoint, ids: BigInt64Array): Promise<{ data: Float32Array; states: number; hidden: number }> {
  const stream = await residualStreamOf(checkpoint);
  if (typeof stream === 'string') throw new Error(stream);
  const T = ids.length;
  const identity = Float32Array.from({ length: T * T }, (_, k) => (k % (T + 1) === 0 ? 1 : 0));
  const session = await openStatesSession(checkpoint, stream);
  const [data] = await session.run([ids], [identity]);
  await session.release();
  return { data: data!, states: session.states, hidden: data!.length / session.states / T };
}

/** Largest |a − b| relative to the largest |b|. */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 0;
  for (let k = 0; k < a.length; k++) {
    diff = Math.max(diff, Math.abs(a[k]! - b[k]!));
    scale = Math.max(scale, Math.abs(b[k]!));
  }
  return diff / scale;
}

/** The float32 embedding table of a tiny checkpoint, read from its external data as its graph names it. */
async function embeddingTable(dir: string): Promise<{ data: Float32Array; width: number }> {
  const graph = decodeModel(await readFile(path.join(dir, 'model.onnx'))).graph!;
  const gather = graph.node!.find((n) => n.opType === 'Gather' && n.input?.[1] === 'input_ids')!;
  const table = graph.initializer!.find((t) => t.name === gather.input![0])!;
  const entry = (key: string): string => table.externalData!.find((e) => e.key === key)!.value!;
  const bytes = await readFile(path.join(dir, entry('location')));
  const offset = Number(entry('offset'));
  const rows = new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + Number(entry('length'))));
  return { data: rows, width: Number(table.dims![1]) };
}

describe('the residual stream', function () {
  this.timeout(300_000);
  let ids: BigInt64Array;
  let base: { data: Float32Array; states: number; hidden: number };
  before(async () => {
    ids = BigInt64Array.from((await (await loadTokenizer(modelDir('base'))).encode(TEXT)).ids);
    base = await tokenStates(await openCheckpoint(modelDir('base')), ids);
  });

  it('is found by structure in both exporters\' graphs: the embeddings, then after each of the 6 layers', async () => {
    assert.equal(base.states, 7);
    const dynamo = await tokenStates(await openCheckpoint(modelDir('base-dynamo')), ids);
    assert.equal(dynamo.states, 7);
    assert.ok(relativeDifference(dynamo.data, base.data) < 1e-5);
  });

  it('starts at the token embeddings: state 0 of each token is its row of the embedding table', async () => {
    const table = await embeddingTable(modelDir('base'));
    assert.equal(table.width, base.hidden);
    ids.forEach((id, t) => {
      const row = table.data.subarray(Number(id) * table.width, (Number(id) + 1) * table.width);
      assert.deepEqual(base.data.subarray(t * base.hidden, (t + 1) * base.hidden), row);
    });
    // and each layer moves it: state 1 is another vector
    assert.notDeepEqual(base.data.subarray(ids.length * base.hidden, (ids.length + 1) * base.hidden), base.data.subarray(0, base.hidden));
  });

  it('in every fused attention form, and with norms fused as the model builder writes them, the states of the decomposed twin (1e-5)', async () => {
    const root = await temporaryFolder();
    const shape = { layers: 2, heads: 8, kvHeads: 2, hidden: 128, vocab: 4096, slidingWindow: 6 };
    const twin = await tokenStates(await openCheckpoint(await synthCheckpoint(path.join(root, 'decomposed'), shape)), ids);
    const forms = [{ attention: 'gqa' }, { attention: 'mha' }, { attention: 'onnx-attention' }, { norm: 'fused' }, { attention: 'gqa', norm: 'fused' }] as const;
    for (const form of forms) {
      const name = Object.values(form).join('-');
      const fused = await tokenStates(await openCheckpoint(await synthCheckpoint(path.join(root, name), { ...shape, ...form })), ids);
      assert.equal(fused.states, 3, name);
      assert.ok(relativeDifference(fused.data, twin.data) < 1e-5, name);
    }
  });

  it('says why where additions are missing', () => {
    const embedded = { opType: 'Gather', input: ['table', 'input_ids'], output: ['embedded'] };
    const skip = (input: string[], output: string[]) => ({ opType: 'SkipLayerNormalization', domain: 'com.microsoft', name: 'final_norm', input, output });
    const withAddition = { initializer: [{ name: 'table' }], node: [embedded, skip(['attention_out', 'embedded', 'gamma', 'beta'], ['normed', '', '', 'residual'])] };
    assert.equal(findResidualStream(withAddition, 2), 'the residual stream has 1 residual additions where 2 layers have 4');
  });

  it("adds a fused kernel's input, skip and bias beside it where the kernel does not return their sum", () => {
    const embedded = { opType: 'Gather', input: ['table', 'input_ids'], output: ['embedded'] };
    const skip = (name: string, input: string[], output: string[]) => ({ opType: 'SkipLayerNormalization', domain: 'com.microsoft', name, input, output });
    const graph = {
      initializer: [{ name: 'table' }],
      node: [embedded, skip('mid_norm', ['attention_out', 'embedded', 'g', 'b'], ['n1', '', '', 'mid']), skip('final_norm', ['mlp_out', 'mid', 'g', 'b', 'bias'], ['normed'])],
    };
    const stream = findResidualStream(graph, 1);
    if (typeof stream === 'string') assert.fail(stream);
    assert.deepEqual(stream.sums, [undefined, ['mlp_out', 'mid', 'bias']]);
    assert.equal(stream.states[0], 'embedded');
  });

  describe('in the formats other tools write', () => {
    let root: string | undefined;
    before(async function () {
      root = await exportsOrSkip(this, 'base');
    });
    // Largest difference from the float32 export, relative to the largest state value: what each precision costs.
    // Measured: 0, 0, 0, 5.1e-4, 4.7e-4, 1.6e-2, 4.1e-2, 0.13; bfloat16 (widened to float32 on the CPU) 3.9e-3 ≈ 2^-8, its mantissa's rounding.
    const TOLERANCE: Record<string, number> = { 'resaved-inline': 1e-6, 'per-tensor': 1e-6, 'with-past': 1e-6, fp16: 2e-3, 'fp16-softmax-fp32': 2e-3, 'int8-qdq': 4e-2, 'int8-dynamic': 8e-2, 'int4-nbits': 0.25, bf16: 2 ** -6, 'bf16-with-past': 2 ** -6 };
    for (const [format, tolerance] of Object.entries(TOLERANCE)) {
      it(`${format}: found, and within ${tolerance} of the float32 states`, async () => {
        const states = await tokenStates(await openCheckpoint(path.join(root!, format)), ids);
        assert.equal(states.states, 7);
        const difference = relativeDifference(states.data, base.data);
        assert.ok(difference < tolerance, `${difference}`);
      });
    }
  });
});
