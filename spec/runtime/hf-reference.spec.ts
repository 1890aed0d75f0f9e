import assert from 'node:assert/strict';
import { loadTokenizer } from '../../lib/tokenize/tokenizer.js';
import { openCheckpoint } from '../../lib/checkpoint/checkpoint.js';
import { traceAttention } from '../../lib/runtime/passes.js';
import type { Float32Tensor } from '../../lib/io/npy.js';
import { maxAbsDifference, modelDir, referenceAttention, referenceIndex } from '../helpers.js';

const TOLERANCE = 1e-4;

async function traceProbes(model: Parameters<typeof modelDir>[0], batchSize = 1): Promise<Map<string, Float32Tensor>> {
  const checkpoint = await openCheckpoint(modelDir(model));
  const tokenizer = await loadTokenizer(checkpoint.dir);
  const probes = (await referenceIndex()).probes;
  const ids = await Promise.all(probes.map(async (p) => (await tokenizer.encode(p.text)).ids));
  const traced = new Map<string, Float32Tensor>();
  for await (const { index, attention } of traceAttention(checkpoint, ids, { batchSize })) traced.set(probes[index]!.id, attention);
  return traced;
}

describe('traced attention equals Hugging Face eager attention', () => {
  const cases = [
    ['base', 'base'],
    ['cpt', 'cpt'],
    ['ift', 'ift'],
    ['base-dynamo', 'base'],
  ] as const;
  for (const [model, reference] of cases) {
    it(`tiny-legal-${model} matches the ${reference} reference on every probe within ${TOLERANCE}`, async () => {
      const traced = await traceProbes(model);
      for (const probe of (await referenceIndex()).probes) {
        const expected = await referenceAttention(reference, probe.id);
        const actual = traced.get(probe.id)!;
        assert.deepEqual(actual.dims, expected.dims, probe.id);
        const difference = maxAbsDifference(actual.data, expected.data);
        assert.ok(difference < TOLERANCE, `${model}/${probe.id}: max |difference| ${difference}`);
      }
    });
  }
});

describe('traced attention', () => {
  it('has rows that sum to 1 and nothing above the diagonal (causal)', async () => {
    for (const attention of (await traceProbes('cpt')).values()) {
      const [layers = 0, heads = 0, T = 0] = attention.dims;
      for (let m = 0; m < layers * heads; m++) {
        for (let i = 0; i < T; i++) {
          const row = attention.data.subarray((m * T + i) * T, (m * T + i + 1) * T);
          const sum = row.reduce((a, b) => a + b, 0);
          assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
          for (let j = i + 1; j < T; j++) assert.equal(row[j], 0, `A[${i}][${j}] above the diagonal`);
        }
      }
    }
  });

  it('is the same for a padded batch as for one sequence at a time', async () => {
    const single = await traceProbes('ift', 1);
    const batched = await traceProbes('ift', 4);
    assert.equal(batched.size, single.size);
    for (const [id, attention] of single) {
      const other = batched.get(id)!;
      assert.deepEqual(other.dims, attention.dims);
      assert.ok(maxAbsDifference(other.data, attention.data) < 1e-5, id);
    }
  });
});
