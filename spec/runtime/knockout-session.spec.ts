import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { openCheckpoint, type Checkpoint } from '../../lib/checkpoint/checkpoint.js';
import type { ResidualStream } from '../../lib/checkpoint/residual-stream.js';
import { KNOCKOUT_KEYS_INPUT, KNOCKOUT_LAYERS_INPUT, KNOCKOUT_QUERIES_INPUT, knockoutGraph, NEXT_IDS_INPUT } from '../../lib/rewrite/knockout-graph.js';
import { padBatch } from '../../lib/runtime/feeds.js';
import { openKnockoutSession, spanKnockout } from '../../lib/runtime/knockout-session.js';
import { createSession, forward } from '../../lib/runtime/session.js';
import { residualStreamOf } from '../../lib/runtime/states-session.js';
import { makeExports, NO_PYTHON_ONNX } from '../checkpoint/exports.js';
import { modelDir, referenceIndex } from '../helpers.js';

async function streamOf(checkpoint: Checkpoint): Promise<ResidualStream> {
  const stream = await residualStreamOf(checkpoint);
  if (typeof stream === 'string') throw new Error(stream);
  return stream;
}

const probeIds = async (): Promise<BigInt64Array> => BigInt64Array.from((await referenceIndex()).probes[0]!.ids, BigInt);

describe('spanKnockout', () => {
  it('blocks the span\'s keys for the queries after its last token, in the layers asked for', () => {
    const mask = spanKnockout(7, [2, 3], 4, [1, 3]);
    assert.deepEqual([...mask.keys], [0, 0, 1, 1, 0, 0, 0]);
    assert.deepEqual([...mask.queries], [0, 0, 0, 0, 1, 1, 1]);
    assert.deepEqual([...mask.layers], [0, 1, 0, 1]);
  });

  it('reads a span of several occurrences as their union, blocked after the last', () => {
    const mask = spanKnockout(8, [1, 5], 2);
    assert.deepEqual([...mask.keys], [0, 1, 0, 0, 0, 1, 0, 0]);
    assert.deepEqual([...mask.queries], [0, 0, 0, 0, 0, 0, 1, 1]);
    assert.deepEqual([...mask.layers], [1, 1]);
  });

  it('blocks nothing for an empty span', () => {
    const mask = spanKnockout(4, [], 2);
    assert.deepEqual([...mask.keys, ...mask.queries], new Array(8).fill(0));
  });
});

describe('the knockout graph', () => {
  for (const model of ['base', 'base-dynamo'] as const) {
    it(`of tiny-legal-${model} computes the plain model's logits bit for bit where nothing is knocked out`, async () => {
      const checkpoint = await openCheckpoint(modelDir(model));
      const original = await readFile(checkpoint.graphFile);
      const edited = knockoutGraph(original, checkpoint.graph.attention, await streamOf(checkpoint), checkpoint.graphFile, { embeddingRows: checkpoint.graph.embeddingRows });
      const ids = await probeIds();
      const T = ids.length;
      const L = checkpoint.graph.attention.length;
      const rows = 2;
      const padded = padBatch([ids, ids], 0n);
      // row 1 selects every layer but no key: the Where is in the graph and picks every score as it was
      const layers = new Float32Array(rows * L).fill(1, L);
      const feeds = {
        [KNOCKOUT_KEYS_INPUT]: new ort.Tensor('float32', new Float32Array(rows * T), [rows, T]),
        [KNOCKOUT_QUERIES_INPUT]: new ort.Tensor('float32', new Float32Array(rows * T).fill(1), [rows, T]),
        [KNOCKOUT_LAYERS_INPUT]: new ort.Tensor('float32', layers, [rows, L]),
        [NEXT_IDS_INPUT]: new ort.Tensor('int64', new BigInt64Array(rows * T), [rows, T, 1]),
      };
      const plain = await createSession(original, checkpoint, {}, 'the model');
      const knockout = await createSession(edited, checkpoint, {}, 'the knockout graph');
      const expected = (await forward(plain, checkpoint, padded, {}, ['logits']))['logits']!.data as Float32Array;
      const actual = (await forward(knockout, checkpoint, padded, feeds, ['logits']))['logits']!.data as Float32Array;
      await Promise.all([plain.release(), knockout.release()]);
      assert.equal(actual.length, expected.length);
      const differing = actual.findIndex((v, k) => !Object.is(v, expected[k]));
      assert.equal(differing, -1, `logit ${differing}: ${actual[differing]} where the plain model gives ${expected[differing]}`);
    });
  }
});

describe('a knockout pass', () => {
  it('leaves every token up to the span\'s last bit for bit as the baseline and changes tokens after it', async () => {
    const checkpoint = await openCheckpoint(modelDir('base'));
    const session = await openKnockoutSession(checkpoint, await streamOf(checkpoint));
    const ids = await probeIds();
    const T = ids.length;
    const spans = [[18, 19], [10], [3, 4, 5]];
    const pass = await session.run(ids, [spanKnockout(T, [], session.layers), ...spans.map((span) => spanKnockout(T, span, session.layers))]);
    await session.release();
    assert.deepEqual([pass.rows, pass.length], [5, T]);
    const row = (values: Float32Array, r: number): number[] => Array.from(values.subarray(r * T, (r + 1) * T));
    assert.ok(row(pass.cosine, 0).every((c) => Math.abs(c - 1) < 1e-6), 'the baseline is its own state');
    assert.deepEqual(row(pass.logprob, 1), row(pass.logprob, 0), 'an empty knockout is the baseline');
    assert.deepEqual(row(pass.cosine, 1), row(pass.cosine, 0));
    spans.forEach((span, k) => {
      const last = Math.max(...span);
      const [logprob, baseline] = [row(pass.logprob, k + 2), row(pass.logprob, 0)];
      assert.deepEqual(logprob.slice(0, last + 1), baseline.slice(0, last + 1), `span ${span.join(',')}: a token up to the span changed`);
      assert.deepEqual(row(pass.cosine, k + 2).slice(0, last + 1), row(pass.cosine, 0).slice(0, last + 1));
      const changed = logprob.slice(last + 1, T - 1).filter((v, i) => v !== baseline[last + 1 + i]).length;
      assert.equal(changed, T - 2 - last, `span ${span.join(',')}: ${changed} of the ${T - 2 - last} later tokens changed`);
      assert.ok(row(pass.cosine, k + 2).slice(last + 1).every((c) => c < 1), `span ${span.join(',')}: a later state is unchanged`);
    });
    assert.ok(Number.isNaN(pass.logprob[T - 1]), 'the last position predicts no token of the text');
  });

  it('is refused, naming the graph, where the model returns its attention as outputs', async () => {
    const checkpoint = await openCheckpoint(modelDir('base'));
    const outputs: Checkpoint = { ...checkpoint, graph: { ...checkpoint.graph, attentionSource: 'outputs' } };
    await assert.rejects(openKnockoutSession(outputs, await streamOf(checkpoint)), (error: Error) => error.message.startsWith(`${checkpoint.graphFile}: attention knockout needs each layer's Softmax or fused attention kernel`));
  });
});

describe('a knockout pass in the formats other tools write', () => {
  // the change a knockout makes to the log-probs, as far from float32's as the format's rounding takes it
  const tolerances = { 'with-past': 1e-6, fp16: 0.01, 'fp16-softmax-fp32': 0.01, bf16: 0.05 } as const;
  let folder: string | undefined;
  let float32: number[] = [];
  async function changes(dir: string): Promise<number[]> {
    const checkpoint = await openCheckpoint(dir);
    const session = await openKnockoutSession(checkpoint, await streamOf(checkpoint));
    const ids = await probeIds();
    const T = ids.length;
    try {
      const pass = await session.run(ids, [spanKnockout(T, [18, 19], session.layers), spanKnockout(T, [18, 19], session.layers, [2])]);
      return Array.from({ length: 2 * (T - 1) }, (_, k) => pass.logprob[(1 + Math.floor(k / (T - 1))) * T + (k % (T - 1))]! - pass.logprob[k % (T - 1)]!);
    } finally {
      await session.release();
    }
  }

  before(async function () {
    folder = await makeExports('base');
    if (!folder) {
      if (process.env.CI) throw new Error(NO_PYTHON_ONNX);
      console.warn(`  skipped: ${NO_PYTHON_ONNX}`);
      this.skip();
    }
    float32 = await changes(modelDir('base'));
  });

  for (const [format, tolerance] of Object.entries(tolerances)) {
    it(`${format}: the knockout's changes are float32's within ${tolerance}`, async () => {
      const actual = await changes(`${folder}/${format}`);
      const difference = Math.max(...actual.map((v, k) => Math.abs(v - float32[k]!)));
      assert.ok(difference < tolerance, `${format}: the changes differ by up to ${difference}`);
      assert.ok(Math.max(...float32.map(Math.abs)) > 1, 'the knockout changes the log-probs by more than any tolerance');
    });
  }

  it('int8-dynamic: refused, since its activation scales would mix the rows of one pass', async () => {
    const checkpoint = await openCheckpoint(`${folder}/int8-dynamic`);
    await assert.rejects(openKnockoutSession(checkpoint, await streamOf(checkpoint)), /quantizes activations with scales taken over the whole pass/);
  });
});
