import assert from 'node:assert/strict';
import { LegalAttnError } from '../../lib/errors.js';
import { buildFeeds, padBatch, widenedInputs } from '../../lib/runtime/feeds.js';
import { type GraphInput } from '../../lib/checkpoint/graph-analysis.js';

describe('padBatch', () => {
  it('pads on the right and masks the padding', () => {
    const padded = padBatch([BigInt64Array.of(1n, 5n, 6n), BigInt64Array.of(1n, 7n)], 0n);
    assert.equal(padded.length, 3);
    assert.deepEqual(Array.from(padded.ids), [1n, 5n, 6n, 1n, 7n, 0n]);
    assert.deepEqual(Array.from(padded.mask), [1n, 1n, 1n, 1n, 1n, 0n]);
    assert.deepEqual(padded.lengths, [3, 2]);
  });
});

describe('buildFeeds', () => {
  const padded = padBatch([BigInt64Array.of(1n, 5n, 6n)], 0n);

  it('feeds positions, token types and an empty past to exports that take them', () => {
    const inputs: GraphInput[] = [
      { name: 'input_ids', type: 'int64', dims: ['batch', 'seq'] },
      { name: 'attention_mask', type: 'int64', dims: ['batch', 'seq'] },
      { name: 'position_ids', type: 'int64', dims: ['batch', 'seq'] },
      { name: 'token_type_ids', type: 'int64', dims: ['batch', 'seq'] },
      { name: 'past_key_values.0.key', type: 'float32', dims: ['batch', 8, 'past', 128] },
      { name: 'past_key_values.0.value', type: 'float16', dims: ['batch', 8, 'past', 128] },
      { name: 'use_cache_branch', type: 'bool', dims: [1] },
    ];
    const feeds = buildFeeds(inputs, padded, 'model.onnx');
    assert.deepEqual(Array.from(feeds.position_ids!.data as BigInt64Array), [0n, 1n, 2n]);
    assert.deepEqual(Array.from(feeds.token_type_ids!.data as BigInt64Array), [0n, 0n, 0n]);
    assert.deepEqual(feeds['past_key_values.0.key']!.dims, [1, 8, 0, 128]);
    assert.equal(feeds['past_key_values.0.key']!.data.length, 0);
    assert.equal(feeds['past_key_values.0.value']!.type, 'float16');
    assert.deepEqual(Array.from(feeds.use_cache_branch!.data as Uint8Array), [0]);
  });

  it("feeds onnxruntime's optimizer's stacked past_N [2, batch, heads, past, d] empty", () => {
    const feeds = buildFeeds([{ name: 'past_3', type: 'float32', dims: [2, 'batch_size', 4, 'past_seq_len', 8] }], padded, 'past.onnx');
    assert.deepEqual(feeds.past_3!.dims, [2, 1, 4, 0, 8]);
  });

  it('feeds inputs by the names a genai_config.json declares', () => {
    const inputs: GraphInput[] = [
      { name: 'tokens', type: 'int64', dims: ['b', 's'] },
      { name: 'kv.0.k', type: 'float16', dims: ['b', 2, 'p', 16] },
    ];
    const feeds = buildFeeds(inputs, padded, 'model.onnx', { input_ids: 'tokens', past_key_names: 'kv.%d.k' });
    assert.deepEqual(Array.from(feeds.tokens!.data as BigInt64Array), [1n, 5n, 6n]);
    assert.deepEqual(feeds['kv.0.k']!.dims, [1, 2, 0, 16]);
    assert.throws(() => buildFeeds(inputs, padded, 'model.onnx'), /model input tokens/);
  });

  it('feeds a graph widened from bfloat16 an empty float32 past where the export asked for bfloat16', () => {
    const inputs: GraphInput[] = [
      { name: 'input_ids', type: 'int64', dims: ['batch', 'seq'] },
      { name: 'past_key_values.0.key', type: 'bfloat16', dims: ['batch', 2, 'past', 16] },
    ];
    assert.equal(buildFeeds(inputs, padded, 'model.onnx')['past_key_values.0.key']!.type, 'bfloat16');
    const past = buildFeeds(widenedInputs(inputs), padded, 'model.onnx')['past_key_values.0.key']!;
    assert.deepEqual([past.type, past.data instanceof Float32Array, past.dims], ['float32', true, [1, 2, 0, 16]]);
    assert.deepEqual(widenedInputs(inputs)[0], inputs[0]);
  });

  it('casts ids to int32 for exports that take int32', () => {
    const feeds = buildFeeds([{ name: 'input_ids', type: 'int32', dims: ['b', 's'] }], padded, 'model.onnx');
    assert.ok(feeds.input_ids!.data instanceof Int32Array);
    assert.deepEqual(Array.from(feeds.input_ids!.data), [1, 5, 6]);
  });

  it('refuses an input it cannot feed, naming it', () => {
    assert.throws(
      () => buildFeeds([{ name: 'pixel_values', type: 'float32', dims: [1, 3, 224, 224] }], padded, 'm/model.onnx'),
      (error: unknown) => error instanceof LegalAttnError && error.message.startsWith('m/model.onnx: model input pixel_values'),
    );
  });
});
